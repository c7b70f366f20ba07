#include "common/train/job_runner.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/data/image_stream.h"
#include "common/eval/metric_names.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/util/work_counter.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Rank 0's periodic progress line: phase, iteration/total, losses, images/s, ETA of the job.
class ProgressPrinter {
 public:
  ProgressPrinter(const Schedule& schedule, double period_seconds)
      : schedule_(schedule), period_(period_seconds), last_(Clock::now()) {}

  void StartPhase(int64_t position) {
    done_before_ = schedule_.IterationsBefore(position);
    phase_start_ = Clock::now();
    images_ = 0;
  }

  void Update(const StepProgress& p) {
    images_ += p.images;
    const auto now = Clock::now();
    if (p.iteration != p.iterations &&
        std::chrono::duration<double>(now - last_).count() < period_) {
      return;
    }
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - phase_start_).count();
    const double per_iteration = elapsed / p.iteration;
    const int64_t left = schedule_.total_iterations() - done_before_ - p.iteration;
    std::string losses;
    for (const auto& [k, v] : p.losses) absl::StrAppend(&losses, absl::StrFormat(" %s=%.4f", k, v));
    std::string phase = PhaseName(p.phase);
    if (p.round >= 0) absl::StrAppend(&phase, " r", p.round);
    Log(absl::StrFormat("[%s] %d/%d (%.0f%%)%s | %.1f img/s | ETA %s", phase, p.iteration,
                        p.iterations, 100.0 * p.iteration / p.iterations, losses,
                        images_ / std::max(elapsed, 1e-9), FormatDuration(left * per_iteration)));
  }

 private:
  const Schedule& schedule_;
  double period_;
  Clock::time_point last_, phase_start_;
  int64_t done_before_ = 0;
  int64_t images_ = 0;
};

// Rank 0's decision, as it travels to the other ranks: "position\tcheckpoint_path" runs a phase,
// "" stops, "!code\tmessage" stops every rank with that error.
std::string EncodeOrder(const absl::StatusOr<std::optional<PhaseOrder>>& order) {
  if (!order.ok()) {
    return absl::StrCat("!", static_cast<int>(order.status().code()), "\t",
                        order.status().message());
  }
  if (!order->has_value()) return "";
  return absl::StrCat((*order)->position, "\t", (*order)->checkpoint_path);
}

absl::StatusOr<std::optional<PhaseOrder>> DecodeOrder(const std::string& bytes) {
  if (bytes.empty()) return std::optional<PhaseOrder>();
  const size_t tab = bytes.find('\t');
  if (bytes[0] == '!') {
    return absl::Status(static_cast<absl::StatusCode>(std::stoi(bytes.substr(1, tab - 1))),
                        bytes.substr(tab + 1));
  }
  PhaseOrder order;
  order.position = std::stoll(bytes.substr(0, tab));
  order.checkpoint_path = bytes.substr(tab + 1);
  return std::optional<PhaseOrder>(order);
}

}  // namespace

LocalScheduleDriver::LocalScheduleDriver(int64_t num_phases, std::string output_dir)
    : num_phases_(num_phases), output_dir_(std::move(output_dir)) {}

absl::StatusOr<std::optional<PhaseOrder>> LocalScheduleDriver::NextPhase() {
  if (next_ >= num_phases_) return std::optional<PhaseOrder>();
  PhaseOrder order;
  order.position = next_++;
  order.checkpoint_path = CheckpointFileName(output_dir_, order.position);
  return std::optional<PhaseOrder>(order);
}

PhaseReport RunEvaluatePhase(Trainer& trainer, Evaluator& evaluator) {
  const auto start = Clock::now();
  PhaseReport report = trainer.Evaluate();
  report.metrics.merge(
      evaluator.Evaluate(trainer.model(), trainer.classifier(), trainer.regular_classes()).Named());
  report.seconds = SecondsSince(start);
  return report;
}

absl::Status RunPhases(const Schedule& schedule, Trainer& trainer, Evaluator& evaluator,
                       PhaseDriver* driver, Communicator& comm, const RunPhasesOptions& options) {
  const bool leader = comm.rank() == 0;
  ProgressPrinter printer(schedule, options.progress_seconds);
  int64_t position = options.resumed_position;
  auto last_step = Clock::now();
  const ProgressCallback progress = [&](const StepProgress& p) {
    CountWork();
    if (!leader) return;
    const auto now = Clock::now();
    const double step_seconds = std::chrono::duration<double>(now - last_step).count();
    last_step = now;
    printer.Update(p);
    driver->OnProgress(position, p, step_seconds);
  };
  if (leader) driver->Begin(options.resumed_position);
  absl::Status leader_error;  // OnPhaseDone's failure, sent to every rank with the next order
  for (;;) {
    std::string order_bytes;
    if (leader) {
      order_bytes =
          EncodeOrder(leader_error.ok() ? driver->NextPhase()
                                        : absl::StatusOr<std::optional<PhaseOrder>>(leader_error));
    }
    comm.BroadcastBytes(order_bytes, 0);
    FTL_ASSIGN_OR_RETURN(const std::optional<PhaseOrder> order, DecodeOrder(order_bytes));
    if (!order) return absl::OkStatus();
    const std::optional<Phase> phase = schedule.PhaseAt(order->position);
    if (!phase) {
      return absl::OutOfRangeError(absl::StrCat("phase ", order->position,
                                                " is past the end of the schedule (",
                                                schedule.num_phases(), " phases)"));
    }
    position = order->position;
    printer.StartPhase(position);
    last_step = Clock::now();
    const AllReduceStats allreduce_before = trainer.allreduce_stats();
    PhaseReport report;
    // A streamed dataset can lose its images mid-phase (DataReadError: an identity with no
    // readable image left, the source gone). The phase cannot finish; report it as an error and
    // exit, so that the launcher stops the other ranks and the job resumes from its checkpoint.
    try {
      switch (phase->kind) {
        case PhaseKind::kPretrain:
          report = trainer.Pretrain(phase->iterations, progress);
          break;
        case PhaseKind::kUpdateStats:
          report = trainer.UpdateStats();
          break;
        case PhaseKind::kStageOne:
          report = trainer.StageOne(phase->iterations, phase->round, progress);
          break;
        case PhaseKind::kStageTwo:
          report = trainer.StageTwo(phase->iterations, phase->round, progress);
          break;
        case PhaseKind::kEvaluate:
          report = RunEvaluatePhase(trainer, evaluator);
          break;
        case PhaseKind::kCheckpoint: {
          const auto start = Clock::now();
          // The stored position is the phase after this one: resuming continues from there.
          FTL_RETURN_IF_ERROR(trainer.SaveCheckpoint(order->checkpoint_path, position + 1));
          if (leader)
            PruneCheckpoints(fs::path(order->checkpoint_path).parent_path().string(),
                             options.keep_checkpoints);
          report.phase = PhaseName(PhaseKind::kCheckpoint);
          report.checkpoint = order->checkpoint_path;
          report.seconds = SecondsSince(start);
          break;
        }
      }
    } catch (const DataReadError& e) {
      return absl::DataLossError(absl::StrCat(PhaseName(phase->kind), ": ", e.what()));
    }
    report.round = phase->round;
    const Dataset& dataset = trainer.dataset();
    if (dataset.stream) {
      std::vector<torch::Tensor> unreadable = {
          torch::tensor({static_cast<double>(dataset.stream->bad_count())}, torch::kFloat64)};
      comm.AllReduceSum(unreadable);
      report.metrics[metric_names::kStreamedUnreadableImages] = unreadable[0].item<double>();
    }
    const AllReduceStats allreduce_after = trainer.allreduce_stats();
    if (phase->iterations > 0) {
      report.metrics[metric_names::kAllreduceSeconds] =
          allreduce_after.seconds - allreduce_before.seconds;
      report.metrics[metric_names::kAllreduceBytes] =
          static_cast<double>(allreduce_after.bytes - allreduce_before.bytes);
    }
    if (leader) {
      Log(DescribeReport(report));
      leader_error = driver->OnPhaseDone(position, report);
    }
  }
}

}  // namespace ftl
