// The training schedule of Algorithm 1 as a pure state machine: no MPI, IO or tensors.
//
//   ftl:      pretrain(N) -> checkpoint -> for each round r:
//               update_stats -> stage1(N_iter) -> stage2(N_iter) -> [evaluate] -> [checkpoint]
//   baseline: pretrain(N) -> evaluate -> checkpoint
//
// evaluate / checkpoint run every `evaluate_every_rounds` / `checkpoint_every_rounds` rounds and
// always after the last one. The position is the index of the next phase, so a restarted worker
// or coordinator resumes from the phase after its last checkpoint.
#ifndef FTL_COMMON_SCHEDULE_SCHEDULE_H_
#define FTL_COMMON_SCHEDULE_SCHEDULE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ftl {

enum class PhaseKind { kPretrain, kUpdateStats, kStageOne, kStageTwo, kEvaluate, kCheckpoint };

// "pretrain", "update_stats", "stage1", "stage2", "evaluate", "checkpoint".
const char* PhaseName(PhaseKind kind);

struct Phase {
  PhaseKind kind;
  int round = -1;          // -1 for the pre-training part
  int64_t iterations = 0;  // training phases only
  int64_t index = 0;       // position in the schedule

  bool operator==(const Phase& other) const {
    return kind == other.kind && round == other.round && iterations == other.iterations &&
           index == other.index;
  }
};

struct ScheduleConfig {
  bool alternate = true;  // false: a baseline (softmax, softmax + m-L2) trains pretrain only
  int64_t pretrain_iterations = 0;
  int rounds = 0;
  int64_t stage_iterations = 0;
  int evaluate_every_rounds = 1;    // 0: only after the last round
  int checkpoint_every_rounds = 1;  // 0: only after the last round
};

class Schedule {
 public:
  explicit Schedule(const ScheduleConfig& config);

  // The phase at `position`, or nullopt when the schedule is complete.
  std::optional<Phase> PhaseAt(int64_t position) const;
  int64_t num_phases() const { return static_cast<int64_t>(phases_.size()); }
  // Training iterations in phases [0, position): for ETAs and progress fractions.
  int64_t IterationsBefore(int64_t position) const;
  int64_t total_iterations() const { return IterationsBefore(num_phases()); }
  // The position just after the last checkpoint phase before `position` (0 if none): where a
  // job that failed at `position` restarts.
  int64_t RestartPosition(int64_t position) const;

 private:
  std::vector<Phase> phases_;
};

}  // namespace ftl

#endif  // FTL_COMMON_SCHEDULE_SCHEDULE_H_
