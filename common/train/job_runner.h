// The per-phase driver of a job: a PhaseDriver (rank 0) decides which phase of the schedule runs
// next — the local schedule when standalone, the coordinator's orders when attached — and
// RunPhases runs it on every rank with the trainer (and the evaluator for evaluate phases).
// No IO beyond checkpoints and log lines: the worker adds data loading, resume and summary.json.
#ifndef FTL_COMMON_TRAIN_JOB_RUNNER_H_
#define FTL_COMMON_TRAIN_JOB_RUNNER_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/comm/communicator.h"
#include "common/eval/evaluator.h"
#include "common/schedule/schedule.h"
#include "common/train/phase_report.h"
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
  // The next phase; nullopt when the job is complete; an error stops the job on every rank.
  virtual absl::StatusOr<std::optional<PhaseOrder>> NextPhase() = 0;
  virtual void OnProgress(int64_t position, const StepProgress& progress, double step_seconds) = 0;
  // After each phase; an error (e.g. the summary cannot be written) stops the job on every rank.
  virtual absl::Status OnPhaseDone(int64_t position, const PhaseReport& report) = 0;
};

// Runs the schedule from position 0 (or the resumed one) to the end, writing checkpoints to
// CheckpointFileName(output_dir, position).
class LocalScheduleDriver : public PhaseDriver {
 public:
  LocalScheduleDriver(int64_t num_phases, std::string output_dir);
  void Begin(int64_t resumed_position) override { next_ = resumed_position; }
  absl::StatusOr<std::optional<PhaseOrder>> NextPhase() override;
  void OnProgress(int64_t, const StepProgress&, double) override {}
  absl::Status OnPhaseDone(int64_t, const PhaseReport&) override { return absl::OkStatus(); }

 private:
  int64_t num_phases_;
  std::string output_dir_;
  int64_t next_ = 0;
};

struct RunPhasesOptions {
  int64_t resumed_position = 0;   // passed to the driver's Begin
  double progress_seconds = 5.0;  // rank 0 prints a progress line at most this often; 0 = always
  int keep_checkpoints = 3;       // checkpoint phases prune older files in their folder
};

// The evaluate phase: the trainer's training-set figures plus the evaluator's protocols.
PhaseReport RunEvaluatePhase(Trainer& trainer, Evaluator& evaluator);

// Runs the phases `driver` orders (rank 0; may be null elsewhere) on every rank until it says
// stop. Each report carries the phase's round and, for training phases, the gradient all-reduce
// seconds and bytes. Errors every rank sees (the driver's, a phase past the schedule, a lost
// streamed source as DataLoss, a checkpoint that cannot be written) come back on every rank.
absl::Status RunPhases(const Schedule& schedule, Trainer& trainer, Evaluator& evaluator,
                       PhaseDriver* driver, Communicator& comm, const RunPhasesOptions& options);

}  // namespace ftl

#endif  // FTL_COMMON_TRAIN_JOB_RUNNER_H_
