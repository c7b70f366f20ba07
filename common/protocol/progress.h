// How far `ftl experiment` has got: runs finished of those planned, and the time left at the
// pace so far. A full-grid experiment is dozens of trainings and can take hours on a large set;
// each worker prints its own ETA, this one is for the whole experiment.
//
// The estimate counts training iterations (each run's are known before it starts: PRETRAIN for
// the from-scratch variants, 2 x ROUNDS x STAGE for the continued ones), so a wave of short tuning
// runs does not make the long final runs look quick. Not thread-safe: callers serialise.
#ifndef FTL_COMMON_PROTOCOL_PROGRESS_H_
#define FTL_COMMON_PROTOCOL_PROGRESS_H_

#include <cstdint>
#include <string>

namespace ftl {

class ExperimentProgress {
 public:
  // `runs` more runs of `iterations_each` training iterations each are planned.
  void Plan(int64_t runs, int64_t iterations_each);
  // `runs` planned runs of `iterations_each` will not run after all (their base model failed).
  void Drop(int64_t runs, int64_t iterations_each);
  // A run of `iterations` finished (succeeded or failed), `elapsed_seconds` after the experiment
  // began. Returns "run 12/63, about 0:41:10 left" ("about 0:00:00 left" once all are done).
  std::string Finished(int64_t iterations, double elapsed_seconds);

  int64_t planned_runs() const { return planned_runs_; }
  int64_t finished_runs() const { return finished_runs_; }

 private:
  int64_t planned_runs_ = 0;
  int64_t finished_runs_ = 0;
  int64_t planned_iterations_ = 0;
  int64_t finished_iterations_ = 0;
};

}  // namespace ftl

#endif  // FTL_COMMON_PROTOCOL_PROGRESS_H_
