// The worker's job: loads the data, builds the trainer and the evaluator, resumes or initialises
// from a checkpoint, and runs the phases a PhaseDriver orders (common/train/job_runner.h) — its
// own schedule when standalone, the coordinator's orders when attached — keeping summary.json.
#ifndef FTL_SERVICES_WORKER_WORKER_RUN_H_
#define FTL_SERVICES_WORKER_WORKER_RUN_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/comm/communicator.h"
#include "common/config/job_config.h"
#include "common/data/dataset.h"
#include "common/train/job_runner.h"
#include "common/train/phase_report.h"

namespace ftl {

struct WorkerOptions {
  // A checkpoint file, or a folder whose newest readable checkpoint is used; empty = fresh start.
  std::string resume;
  // Resume a checkpoint whose recipe differs from this job's (--resume_despite_changes): for a
  // deliberate change of a run's settings; logged with the differences. Off: refused.
  bool resume_despite_changes = false;
  // Print a progress line (rank 0) at most this often; 0 = every iteration.
  double progress_seconds = 5.0;
  // Where this rank trains (see common/comm/device_communicator.h); comm must match it.
  torch::Device device = torch::kCPU;
};

// The job's dataset on every rank: loaded by each rank, or when streaming on several ranks, listed
// by rank 0 and sent to the others (EncodeStreamedListing), who open the source themselves.
absl::StatusOr<Dataset> LoadJobDataset(const JobConfig& config, Communicator& comm);

// Runs the job on every rank. `driver` is used on rank 0 (may be null elsewhere). Errors every
// rank sees (bad data, unreadable checkpoint, a lost coordinator) come back on every rank.
absl::Status RunJob(const JobConfig& config, const WorkerOptions& options, PhaseDriver* driver,
                    Communicator& comm);

// RunJob with a LocalScheduleDriver: the whole schedule, no coordinator, checkpoints in
// runtime.output_dir.
absl::Status RunStandaloneJob(const JobConfig& config, const WorkerOptions& options,
                              Communicator& comm);

}  // namespace ftl

#endif  // FTL_SERVICES_WORKER_WORKER_RUN_H_
