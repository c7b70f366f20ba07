#include "services/worker/worker_run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/comm/watchdog_communicator.h"
#include "common/data/dataset.h"
#include "common/data/image_stream.h"
#include "common/eval/evaluator.h"
#include "common/eval/metric_names.h"
#include "common/schedule/job_schedule.h"
#include "common/train/trainer.h"
#include "common/util/file.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "services/wire/wire.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

absl::Status WriteSummary(const std::string& path, const v1::RunSummary& summary) {
  return WriteFileAtomically(path,
                             ToJson(summary, JsonLayout::kIndented, JsonDefaults::kPrint) + "\n");
}

// Rank 0 keeps summary.json current after every phase, then hands the report to the driver.
class SummaryKeepingDriver : public PhaseDriver {
 public:
  // `start`: when this run began (wall time counts from there, plus `earlier_wall_seconds`).
  SummaryKeepingDriver(PhaseDriver& inner, v1::RunSummary& summary, std::string path,
                       double earlier_wall_seconds, Clock::time_point start)
      : inner_(inner),
        summary_(summary),
        path_(std::move(path)),
        earlier_wall_seconds_(earlier_wall_seconds),
        start_(start) {}

  void Begin(int64_t resumed_position) override { inner_.Begin(resumed_position); }
  absl::StatusOr<std::optional<PhaseOrder>> NextPhase() override { return inner_.NextPhase(); }
  void OnProgress(int64_t position, const StepProgress& progress, double step_seconds) override {
    inner_.OnProgress(position, progress, step_seconds);
  }
  absl::Status OnPhaseDone(int64_t position, const PhaseReport& report) override {
    if (!report.checkpoint.empty()) summary_.set_last_checkpoint(report.checkpoint);
    auto unreadable = report.metrics.find(metric_names::kStreamedUnreadableImages);
    if (unreadable != report.metrics.end()) {
      summary_.set_streamed_unreadable_images(std::llround(unreadable->second));
    }
    *summary_.add_phases() = PhaseReportToProto(report);
    summary_.set_wall_seconds(earlier_wall_seconds_ + WallSeconds());
    FTL_RETURN_IF_ERROR(WriteSummary(path_, summary_));
    return inner_.OnPhaseDone(position, report);
  }
  double WallSeconds() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  PhaseDriver& inner_;
  v1::RunSummary& summary_;
  const std::string path_;
  const double earlier_wall_seconds_;
  const Clock::time_point start_;
};

}  // namespace

absl::Status RunStandaloneJob(const JobConfig& config, const WorkerOptions& options,
                              Communicator& comm) {
  LocalScheduleDriver driver(Schedule(ScheduleConfigFor(config)).num_phases(),
                             config.runtime.output_dir);
  return RunJob(config, options, &driver, comm);
}

absl::StatusOr<Dataset> LoadJobDataset(const JobConfig& config, Communicator& comm) {
  const bool leader = comm.rank() == 0;
  const LoadProgress progress = [leader, &config](int64_t done, int64_t total) {
    if (leader)
      Log(config.data.streaming ? "listed " : "decoded ", done, "/", total,
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
  if (listing.empty())
    return absl::FailedPreconditionError("rank 0 could not list the data (see its error)");
  return DecodeStreamedListing(listing, config.data, ImageOptionsFor(config.data, config.model));
}

absl::Status RunJob(const JobConfig& config, const WorkerOptions& options, PhaseDriver* driver,
                    Communicator& comm) {
  const auto job_start = Clock::now();
  const bool leader = comm.rank() == 0;
  const std::string& out_dir = config.runtime.output_dir;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("runtime.output_dir: cannot create '", out_dir, "': ", ec.message()));

  if (leader) {
    Log(config.data.streaming ? "listing " : "loading ", config.data.format, " data from ",
        config.data.path,
        config.data.streaming ? " (streaming: images are read when their batch is drawn)" : "");
  }
  FTL_ASSIGN_OR_RETURN(const Dataset dataset, LoadJobDataset(config, comm));
  // From here the ranks' work between collectives is balanced (rank 0's checkpoint writes take
  // seconds): a collective that waits for minutes has lost a peer.
  ArmCollectiveWatchdog(comm);
  const torch::Tensor regular = RegularClassMask(dataset, config.data.ur_max_images);
  const int64_t num_regular = regular.sum().item<int64_t>();
  if (leader) {
    Log(absl::StrFormat("data: %d images of %d identities (%d regular, %d UR with <= %d images)",
                        dataset.size(), dataset.num_classes(), num_regular,
                        dataset.num_classes() - num_regular, config.data.ur_max_images));
    if (dataset.skipped_images > 0) {
      Log(dataset.skipped_images, " unreadable image(s) skipped:");
      for (const std::string& name : dataset.skipped_names)
        Log("  skipped: ", config.data.path, "/", name);
    }
  }
  if (dataset.num_classes() < 2) {
    return absl::InvalidArgumentError(absl::StrCat("data.path: '", config.data.path, "' has ",
                                                   dataset.num_classes(),
                                                   " identity; at least 2 are needed"));
  }

  if (config.classifier_sharding == ClassifierSharding::kSharded &&
      dataset.num_classes() < comm.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.classifier_sharding: \"sharded\" gives every rank at least one identity; the data "
        "has ",
        dataset.num_classes(), " identities for ", comm.size(),
        " ranks (use \"replicated\" or fewer ranks)"));
  }
  Trainer trainer(config, dataset, comm, options.device);
  Evaluator evaluator(config, dataset, comm, options.device);
  const Schedule schedule(ScheduleConfigFor(config));
  int64_t resumed_position = 0;
  v1::RunSummary summary;
  const std::string summary_path = (fs::path(out_dir) / "summary.json").string();
  if (!options.resume.empty()) {
    FTL_ASSIGN_OR_RETURN(const std::string used,
                         LoadNewestCheckpoint(options.resume, [&](const std::string& file) {
                           absl::StatusOr<int64_t> position = trainer.LoadCheckpoint(
                               file, options.resume_despite_changes ? CheckpointUse::kChangedRun
                                                                    : CheckpointUse::kSameRun);
                           if (position.ok()) resumed_position = *position;
                           return position.status();
                         }));
    if (leader) {
      Log("resumed from ", used, " at schedule position ", resumed_position, "/",
          schedule.num_phases());
    }
    // Keep the phases already reported, if a summary is there.
    absl::StatusOr<std::string> text = ReadFileToString(summary_path);
    if (text.ok() && !google::protobuf::util::JsonStringToMessage(*text, &summary).ok())
      summary.Clear();
    // One report per phase, in schedule order: those after the resume point are run again (a
    // resume from an older checkpoint) and must not appear twice.
    if (summary.phases_size() > resumed_position) {
      summary.mutable_phases()->DeleteSubrange(
          static_cast<int>(resumed_position),
          summary.phases_size() - static_cast<int>(resumed_position));
    }
    summary.set_last_checkpoint(used);
  } else if (!config.training.init_checkpoint.empty()) {
    FTL_RETURN_IF_ERROR(trainer.InitializeFrom(config.training.init_checkpoint));
    if (leader)
      Log("model weights from ", config.training.init_checkpoint, " (training.init_checkpoint)");
  } else if (!config.init_from.empty()) {
    FTL_RETURN_IF_ERROR(trainer.FineTuneFrom(config.init_from));
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

  if (leader) {
    Log(absl::StrFormat(
        "schedule: %d phases, %d training iterations, method %s, %d rank(s) x %d thread(s), batch "
        "%d per rank",
        schedule.num_phases(), schedule.total_iterations(), MethodName(config.training.method),
        comm.size(), torch::get_num_threads(), config.training.batch_size));
    Log("device: ", options.device.str(),
        options.device.is_cuda()
            ? (config.runtime.bf16_autocast ? " (bf16 autocast), NCCL" : " (fp32), NCCL")
            : ", MPI",
        config.runtime.overlap_allreduce.value_or(options.device.is_cuda())
            ? ", all-reduce overlapped with backward"
            : "");
  }
  std::optional<SummaryKeepingDriver> keeper;
  if (leader) keeper.emplace(*driver, summary, summary_path, earlier_wall_seconds, job_start);
  RunPhasesOptions run_options;
  run_options.resumed_position = resumed_position;
  run_options.progress_seconds = options.progress_seconds;
  run_options.keep_checkpoints = config.runtime.keep_checkpoints;
  FTL_RETURN_IF_ERROR(
      RunPhases(schedule, trainer, evaluator, leader ? &*keeper : nullptr, comm, run_options));
  if (leader) {
    const double wall = keeper->WallSeconds();
    summary.set_finished(true);
    summary.set_wall_seconds(earlier_wall_seconds + wall);
    FTL_RETURN_IF_ERROR(WriteSummary(summary_path, summary));
    const AllReduceStats ar = trainer.allreduce_stats();
    Log(absl::StrFormat(
        "done in %s (this run %.1f s); gradient all-reduce %.1f s, %.1f MB; summary: %s",
        FormatDuration(summary.wall_seconds()), wall, ar.seconds, ar.bytes / 1e6, summary_path));
  }
  return absl::OkStatus();
}

}  // namespace ftl
