// The worker's job loop: loads the data, builds the trainer, and runs the phases a PhaseDriver
// orders — its own schedule when standalone, the coordinator's orders when attached.
#ifndef FTL_SERVICES_WORKER_WORKER_RUN_H_
#define FTL_SERVICES_WORKER_WORKER_RUN_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/comm/communicator.h"
#include "common/data/dataset.h"
#include "common/config/job_config.h"
#include "common/train/trainer.h"

namespace ftl {

struct PhaseOrder {
  int64_t position = 0;         // index into the job's schedule
  std::string checkpoint_path;  // checkpoint phases: the file to write
};

// Decides which phase runs next. Consulted on rank 0 only; the order is broadcast to all ranks.
class PhaseDriver {
 public:
  virtual ~PhaseDriver() = default;
  // Called once, with the schedule position the worker resumed at (0 for a fresh start).
  virtual void Begin(int64_t resumed_position) = 0;
  // The next phase; nullopt when the job is complete; an error stops the worker.
  virtual absl::StatusOr<std::optional<PhaseOrder>> NextPhase() = 0;
  virtual void OnProgress(int64_t position, const StepProgress& progress, double step_seconds) = 0;
  virtual void OnPhaseDone(int64_t position, const v1::PhaseReport& report) = 0;
};

// Runs the schedule from position 0 (or the resumed one) to the end, writing checkpoints to
// `output_dir/ckpt-NNNNNN.ftlckpt`.
class LocalScheduleDriver : public PhaseDriver {
 public:
  LocalScheduleDriver(const JobConfig& config, std::string output_dir);
  void Begin(int64_t resumed_position) override { next_ = resumed_position; }
  absl::StatusOr<std::optional<PhaseOrder>> NextPhase() override;
  void OnProgress(int64_t, const StepProgress&, double) override {}
  void OnPhaseDone(int64_t, const v1::PhaseReport&) override {}

 private:
  int64_t num_phases_;
  std::string output_dir_;
  int64_t next_ = 0;
};

struct WorkerOptions {
  // A checkpoint file, or a folder whose newest readable checkpoint is used; empty = fresh start.
  std::string resume;
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

// RunJob with a LocalScheduleDriver: the whole schedule, no coordinator.
absl::Status RunStandaloneJob(const JobConfig& config, const WorkerOptions& options,
                              Communicator& comm);

}  // namespace ftl

#endif  // FTL_SERVICES_WORKER_WORKER_RUN_H_
