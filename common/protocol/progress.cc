#include "common/protocol/progress.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "common/util/log.h"

namespace ftl {

void ExperimentProgress::Plan(int64_t runs, int64_t iterations_each) {
  planned_runs_ += runs;
  planned_iterations_ += runs * iterations_each;
}

void ExperimentProgress::Drop(int64_t runs, int64_t iterations_each) {
  planned_runs_ -= runs;
  planned_iterations_ -= runs * iterations_each;
}

std::string ExperimentProgress::Finished(int64_t iterations, double elapsed_seconds) {
  ++finished_runs_;
  finished_iterations_ += iterations;
  const int64_t left = std::max<int64_t>(0, planned_iterations_ - finished_iterations_);
  // Seconds per iteration so far, over everything the experiment did (evaluations included).
  const double pace =
      elapsed_seconds / static_cast<double>(std::max<int64_t>(1, finished_iterations_));
  return absl::StrFormat("run %d/%d, about %s left", finished_runs_,
                         std::max(planned_runs_, finished_runs_),
                         FormatDuration(pace * static_cast<double>(left)));
}

}  // namespace ftl
