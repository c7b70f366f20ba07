#include "services/worker/worker_run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/data/dataset.h"
#include "common/data/image_stream.h"
#include "common/schedule/job_schedule.h"
#include "common/train/trainer.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

absl::Status WriteSummary(const std::string& path, const v1::RunSummary& summary) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  if (!google::protobuf::util::MessageToJsonString(summary, &json, options).ok()) {
    return absl::InternalError("cannot encode summary");
  }
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << json << "\n";
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", temp));
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", ec.message()));
  return absl::OkStatus();
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

// The newest checkpoint in `dir` that loads, trying older ones when the newest is damaged.
absl::StatusOr<int64_t> ResumeFromFolder(const std::string& dir, Trainer& trainer,
                                         std::string* used) {
  std::vector<std::string> files = ListCheckpoints(dir);
  if (files.empty()) return absl::NotFoundError(absl::StrCat("no checkpoint in '", dir, "'"));
  absl::Status last_error;
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    absl::StatusOr<int64_t> position = trainer.LoadCheckpoint(*it);
    if (position.ok()) {
      *used = *it;
      return position;
    }
    Log("skipping checkpoint: ", position.status().message());
    last_error = position.status();
  }
  return last_error;
}

// Phase orders travel from rank 0 to the others as "position\tcheckpoint_path"; "" = stop.
std::string EncodeOrder(const std::optional<PhaseOrder>& order) {
  if (!order) return "";
  return absl::StrCat(order->position, "\t", order->checkpoint_path);
}

std::optional<PhaseOrder> DecodeOrder(const std::string& bytes) {
  if (bytes.empty()) return std::nullopt;
  const size_t tab = bytes.find('\t');
  PhaseOrder order;
  order.position = std::stoll(bytes.substr(0, tab));
  order.checkpoint_path = bytes.substr(tab + 1);
  return order;
}

}  // namespace

LocalScheduleDriver::LocalScheduleDriver(const JobConfig& config, std::string output_dir)
    : num_phases_(Schedule(ScheduleConfigFor(config)).num_phases()),
      output_dir_(std::move(output_dir)) {}

absl::StatusOr<std::optional<PhaseOrder>> LocalScheduleDriver::NextPhase() {
  if (next_ >= num_phases_) return std::optional<PhaseOrder>();
  PhaseOrder order;
  order.position = next_++;
  order.checkpoint_path =
      (fs::path(output_dir_) / absl::StrFormat("ckpt-%06d.ftlckpt", order.position)).string();
  return std::optional<PhaseOrder>(order);
}

absl::Status RunStandaloneJob(const JobConfig& config, const WorkerOptions& options,
                              Communicator& comm) {
  LocalScheduleDriver driver(config, config.runtime.output_dir);
  return RunJob(config, options, &driver, comm);
}

absl::StatusOr<Dataset> LoadJobDataset(const JobConfig& config, Communicator& comm) {
  const bool leader = comm.rank() == 0;
  const LoadProgress progress = [leader, &config](int64_t done, int64_t total) {
    if (leader) Log(config.data.streaming ? "listed " : "decoded ", done, "/", total,
                    config.data.streaming ? " record headers" : " images");
  };
  if (!config.data.streaming || comm.size() == 1) {
    return LoadDataset(config.data, config.model, config.training.seed, progress);
  }
  // Streaming: rank 0 lists the source (for MS1M, millions of header reads) and sends the listing;
  // the other ranks open the source for their own reads.
  std::string listing;
  absl::StatusOr<Dataset> dataset = absl::UnknownError("not listed");
  if (leader) {
    dataset = LoadDataset(config.data, config.model, config.training.seed, progress);
    if (dataset.ok()) listing = EncodeStreamedListing(*dataset);
  }
  comm.BroadcastBytes(listing, 0);
  if (leader) return dataset;
  if (listing.empty()) return absl::FailedPreconditionError("rank 0 could not list the data (see its error)");
  return DecodeStreamedListing(listing, config.data, ImageOptionsFor(config.data, config.model));
}

absl::Status RunJob(const JobConfig& config, const WorkerOptions& options, PhaseDriver* driver,
                    Communicator& comm) {
  const auto job_start = Clock::now();
  const bool leader = comm.rank() == 0;
  const std::string& out_dir = config.runtime.output_dir;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("runtime.output_dir: cannot create '", out_dir, "': ", ec.message()));

  if (leader) {
    Log(config.data.streaming ? "listing " : "loading ", config.data.format, " data from ", config.data.path,
        config.data.streaming ? " (streaming: images are read when their batch is drawn)" : "");
  }
  FTL_ASSIGN_OR_RETURN(const Dataset dataset, LoadJobDataset(config, comm));
  const torch::Tensor regular = RegularClassMask(dataset, config.data.ur_max_images);
  const int64_t num_regular = regular.sum().item<int64_t>();
  if (leader) {
    Log(absl::StrFormat("data: %d images of %d identities (%d regular, %d UR with <= %d images)",
                        dataset.size(), dataset.num_classes(), num_regular,
                        dataset.num_classes() - num_regular, config.data.ur_max_images));
    if (dataset.skipped_images > 0) {
      Log(dataset.skipped_images, " unreadable image(s) skipped:");
      for (const std::string& name : dataset.skipped_names) Log("  skipped: ", config.data.path, "/", name);
    }
  }
  if (dataset.num_classes() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("data.path: '", config.data.path,
                                                   "' has ", dataset.num_classes(),
                                                   " identity; at least 2 are needed"));
  }

  Trainer trainer(config, dataset, comm, options.device);
  const Schedule schedule(ScheduleConfigFor(config));
  int64_t resumed_position = 0;
  v1::RunSummary summary;
  const std::string summary_path = (fs::path(out_dir) / "summary.json").string();
  if (!options.resume.empty()) {
    std::string used = options.resume;
    absl::StatusOr<int64_t> resumed = fs::is_directory(options.resume)
                                          ? ResumeFromFolder(options.resume, trainer, &used)
                                          : trainer.LoadCheckpoint(options.resume);
    if (!resumed.ok()) return resumed.status();
    resumed_position = *resumed;
    if (leader) {
      Log("resumed from ", used, " at schedule position ", resumed_position, "/", schedule.num_phases());
    }
    // Keep the phases already reported, if a summary is there.
    std::ifstream in(summary_path);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      if (!google::protobuf::util::JsonStringToMessage(text.str(), &summary).ok()) summary.Clear();
    }
    summary.set_last_checkpoint(used);
  } else if (!config.training.init_checkpoint.empty()) {
    FTL_RETURN_IF_ERROR(trainer.InitializeFrom(config.training.init_checkpoint));
    if (leader) Log("model weights from ", config.training.init_checkpoint, " (training.init_checkpoint)");
  }
  const double earlier_wall_seconds = summary.wall_seconds();  // runs before a resume
  summary.set_job_name(config.name);
  summary.set_world_size(comm.size());
  summary.set_threads_per_rank(torch::get_num_threads());
  summary.set_num_images(dataset.size());
  summary.set_num_classes(static_cast<int32_t>(dataset.num_classes()));
  summary.set_num_ur_classes(static_cast<int32_t>(dataset.num_classes() - num_regular));
  summary.set_skipped_images(dataset.skipped_images);
  summary.set_finished(false);

  ProgressPrinter printer(schedule, options.progress_seconds);
  int64_t position = resumed_position;
  auto last_step = Clock::now();
  const ProgressCallback progress = [&](const StepProgress& p) {
    if (!leader) return;
    const auto now = Clock::now();
    const double step_seconds = std::chrono::duration<double>(now - last_step).count();
    last_step = now;
    printer.Update(p);
    driver->OnProgress(position, p, step_seconds);
  };
  if (leader) {
    Log(absl::StrFormat("schedule: %d phases, %d training iterations, method %s, %d rank(s) x %d thread(s), batch %d per rank",
                        schedule.num_phases(), schedule.total_iterations(),
                        MethodName(config.training.method), comm.size(), torch::get_num_threads(),
                        config.training.batch_size));
    Log("device: ", options.device.str(),
        options.device.is_cuda() ? (config.runtime.bf16_autocast ? " (bf16 autocast), NCCL" : " (fp32), NCCL")
                                 : ", MPI",
        config.runtime.overlap_allreduce.value_or(options.device.is_cuda()) ? ", all-reduce overlapped with backward" : "");
    driver->Begin(resumed_position);
  }
  for (;;) {
    std::string order_bytes;
    absl::Status driver_status;
    if (leader) {
      absl::StatusOr<std::optional<PhaseOrder>> next = driver->NextPhase();
      if (next.ok()) {
        order_bytes = EncodeOrder(*next);
      } else {
        driver_status = next.status();
      }
    }
    comm.BroadcastBytes(order_bytes, 0);
    if (!driver_status.ok()) return driver_status;
    const std::optional<PhaseOrder> order = DecodeOrder(order_bytes);
    if (!order) break;
    const std::optional<Phase> phase = schedule.PhaseAt(order->position);
    if (!phase) {
      return absl::OutOfRangeError(absl::StrCat("phase ", order->position, " is past the end of the schedule (",
                                                schedule.num_phases(), " phases)"));
    }
    position = order->position;
    printer.StartPhase(position);
    last_step = Clock::now();
    const AllReduceStats allreduce_before = trainer.allreduce_stats();
    v1::PhaseReport report;
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
          report = trainer.Evaluate();
          break;
        case PhaseKind::kCheckpoint: {
          const auto start = Clock::now();
          // The stored position is the phase after this one: resuming continues from there.
          FTL_RETURN_IF_ERROR(trainer.SaveCheckpoint(order->checkpoint_path, position + 1));
          if (leader) PruneCheckpoints(fs::path(order->checkpoint_path).parent_path().string(),
                                       config.runtime.keep_checkpoints);
          report.set_phase("checkpoint");
          report.set_checkpoint(order->checkpoint_path);
          report.set_seconds(std::chrono::duration<double>(Clock::now() - start).count());
          summary.set_last_checkpoint(order->checkpoint_path);
          break;
        }
      }
    } catch (const DataReadError& e) {
      return absl::DataLossError(absl::StrCat(PhaseName(phase->kind), ": ", e.what()));
    }
    report.set_round(phase->round);
    if (dataset.stream) {
      std::vector<torch::Tensor> unreadable = {torch::tensor({static_cast<double>(dataset.stream->bad_count())}, torch::kFloat64)};
      comm.AllReduceSum(unreadable);
      summary.set_streamed_unreadable_images(std::llround(unreadable[0].item<double>()));
    }
    const AllReduceStats allreduce_after = trainer.allreduce_stats();
    if (phase->iterations > 0) {
      (*report.mutable_metrics())["allreduce_seconds"] = allreduce_after.seconds - allreduce_before.seconds;
      (*report.mutable_metrics())["allreduce_bytes"] =
          static_cast<double>(allreduce_after.bytes - allreduce_before.bytes);
    }
    if (leader) {
      Log(DescribeReport(report));
      *summary.add_phases() = report;
      summary.set_wall_seconds(earlier_wall_seconds +
                               std::chrono::duration<double>(Clock::now() - job_start).count());
      FTL_RETURN_IF_ERROR(WriteSummary(summary_path, summary));
      driver->OnPhaseDone(position, report);
    }
  }
  const double wall = std::chrono::duration<double>(Clock::now() - job_start).count();
  if (leader) {
    summary.set_finished(true);
    summary.set_wall_seconds(earlier_wall_seconds + wall);
    FTL_RETURN_IF_ERROR(WriteSummary(summary_path, summary));
    const AllReduceStats ar = trainer.allreduce_stats();
    Log(absl::StrFormat("done in %s (this run %.1f s); gradient all-reduce %.1f s, %.1f MB; summary: %s",
                        FormatDuration(summary.wall_seconds()), wall, ar.seconds, ar.bytes / 1e6,
                        summary_path));
  }
  return absl::OkStatus();
}

}  // namespace ftl
