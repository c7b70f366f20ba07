// The standalone worker: runs a job's whole schedule on the ranks of a Communicator, writing
// checkpoints and summary.json to the output folder. No coordinator involved.
#ifndef FTL_SERVICES_WORKER_WORKER_RUN_H_
#define FTL_SERVICES_WORKER_WORKER_RUN_H_

#include <string>

#include "absl/status/status.h"
#include "common/comm/communicator.h"
#include "common/config/job_config.h"

namespace ftl {

struct WorkerOptions {
  // A checkpoint file, or a folder whose newest readable checkpoint is used; empty = fresh start.
  std::string resume;
  // Print a progress line (rank 0) at most this often; 0 = every iteration.
  double progress_seconds = 5.0;
};

// Runs the job to completion. Errors that every rank sees (bad data, unreadable checkpoint) come
// back as a status on every rank.
absl::Status RunStandaloneJob(const JobConfig& config, const WorkerOptions& options,
                              Communicator& comm);

}  // namespace ftl

#endif  // FTL_SERVICES_WORKER_WORKER_RUN_H_
