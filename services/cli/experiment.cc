#include "services/cli/experiment.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/comm/communicator.h"
#include "common/config/job_spec_conversion.h"
#include "common/data/dataset.h"
#include "common/eval/metric_names.h"
#include "common/experiment/statistics.h"
#include "common/experiment/tuning.h"
#include "common/experiment/variants.h"
#include "common/protocol/progress.h"
#include "common/train/trainer.h"
#include "common/util/file.h"
#include "common/util/status_macros.h"
#include "common/util/subprocess.h"
#include "google/protobuf/util/json_util.h"
#include "services/cli/tool_support.h"
#include "services/wire/wire.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A variant's plan (common/experiment/variants.h). Every name reaching here was checked against
// ExperimentVariantPlans when the options were read; an unknown one plans nothing (from scratch).
VariantPlan PlanOf(const std::string& variant, const std::string& head) {
  absl::StatusOr<VariantPlan> plan = FindVariant(variant, head);
  if (plan.ok()) return *std::move(plan);
  VariantPlan unknown;
  unknown.name = variant;
  return unknown;
}
std::string BaseVariant(const std::string& head) { return BaseVariantName(head); }
// Variants trained from scratch for PRETRAIN iterations under `head`; the others continue from
// the base.
bool FromScratch(const std::string& variant, const std::string& head) {
  return PlanOf(variant, head).kind == VariantKind::kFromScratch;
}
bool IsClassBalanced(const std::string& v, const std::string& head) {
  return PlanOf(v, head).class_balanced;
}
bool IsLogitAdjusted(const std::string& v, const std::string& head) {
  return PlanOf(v, head).logit_adjusted;
}
bool IsFtl(const std::string& variant, const std::string& head) {
  return PlanOf(variant, head).kind == VariantKind::kFtl;
}

// What a table column shows and which evaluate-phase metric it comes from.
struct MetricColumn {
  const char* column;  // results.csv
  const char* metric;  // PhaseReport metrics
  const char* header;  // results.md
};
constexpr MetricColumn kColumns[] = {
    {"reg_rank1_f", metric_names::kHoldoutRank1RegularF, "reg rank-1 f"},
    {"ur_rank1_f", metric_names::kHoldoutRank1UrF, "UR rank-1 f"},
    {"reg_rank1_g", metric_names::kHoldoutRank1RegularG, "reg rank-1 g"},
    {"ur_rank1_g", metric_names::kHoldoutRank1UrG, "UR rank-1 g"},
    {"verif_acc", metric_names::kVerifAccF, "verif acc f"},
    {"verif_acc_g", metric_names::kVerifAccG, "verif acc g"},
    {"verif_tar_far1e2", metric_names::kVerifTarFar1e2F, "TAR@FAR1e-2 f"},
    {"ur_coverage_p99", metric_names::kHoldoutCoverageP99Ur, "UR coverage@P.99"},
    {"ur_norm_ratio", metric_names::kUrRegularNormRatio, "UR/reg norm"},
};
// The columns FTL's paired differences are reported for.
constexpr const char* kPairedColumns[] = {"ur_rank1_f", "reg_rank1_f", "ur_rank1_g", "verif_acc"};

struct RunResult {
  std::map<std::string, double> metrics;  // the last evaluate phase's
  double seconds = 0.0;
  std::string checkpoint;  // the newest checkpoint the run wrote
};

// values[variant][column]: one value per final seed, in seed order (NaN for a failed run).
using SeedValues = std::map<std::string, std::map<std::string, std::vector<double>>>;

// One training job of the experiment.
struct Run {
  std::string variant;
  uint64_t seed = 0;
  bool final_run = false;
  std::string dir;
  TuningCandidate candidate;
  v1::JobSpec spec;
  absl::StatusOr<RunResult> result = absl::UnknownError("not run");
};

double Metric(const RunResult& r, const std::string& name) {
  auto it = r.metrics.find(name);
  return it == r.metrics.end() ? std::nan("") : it->second;
}

// The validation score a tuning run is chosen by: mean rank-1 on f over regular and UR probes.
double ValidationScore(const RunResult& r) {
  const double reg = Metric(r, metric_names::kHoldoutRank1RegularF),
               ur = Metric(r, metric_names::kHoldoutRank1UrF);
  if (std::isnan(reg)) return ur;
  if (std::isnan(ur)) return reg;
  return (reg + ur) / 2;
}

// CSV values at full precision ("nan" when missing).
std::string CsvNumber(double v) { return absl::StrFormat("%.10g", v); }
std::string Cell(double v) { return std::isnan(v) ? "-" : absl::StrFormat("%.4f", v); }
// "+0.0231 ± 0.0077 (3/0)": FTL's paired difference, and in how many pairs it was higher / lower.
std::string PairedCell(const PairedDifference& p) {
  const MeanSe& d = p.difference;
  return absl::StrCat(std::isnan(d.mean) ? "-" : absl::StrFormat("%+.4f", d.mean),
                      std::isnan(d.se) ? "" : absl::StrFormat(" ± %.4f", d.se), " (", p.higher, "/",
                      p.lower, ")");
}

absl::StatusOr<RunResult> ReadRunResult(const std::string& name, const std::string& output_dir) {
  const absl::StatusOr<std::string> text =
      ReadFileToString((fs::path(output_dir) / "summary.json").string());
  v1::RunSummary summary;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!text.ok() || !google::protobuf::util::JsonStringToMessage(*text, &summary, options).ok()) {
    return absl::DataLossError(absl::StrCat(name, ": cannot read summary.json in ", output_dir));
  }
  RunResult result;
  for (const v1::PhaseReport& phase : summary.phases()) {
    if (phase.phase() == "evaluate")
      result.metrics = {phase.metrics().begin(), phase.metrics().end()};
  }
  if (result.metrics.empty())
    return absl::DataLossError(absl::StrCat(name, ": no evaluate phase in summary.json"));
  result.checkpoint = summary.last_checkpoint();
  return result;
}

std::string FindWorker(const std::string& given) {
  if (!given.empty()) return given;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& candidate : {self.parent_path() / "ftl_worker",
                                    self.parent_path().parent_path() / "worker" / "ftl_worker"}) {
    if (fs::exists(candidate)) return candidate.string();
  }
  return "ftl_worker";  // from PATH
}

class Experiment {
 public:
  explicit Experiment(const ExperimentOptions& options)
      : o_(options), start_(Clock::now()), budget_(options.budget) {}

  // Each step returns InvalidArgument for bad options (exit 2), anything else for a failure.
  absl::Status MakeSplitAndPairs();
  absl::Status MakeBaseSpec();
  absl::Status Tune();
  absl::Status TrainFinalRuns();
  void AnalyzeFirstSeed();
  absl::Status WriteResults();

 private:
  v1::JobSpec SpecFor(const std::string& variant, const TuningCandidate& candidate, uint64_t seed,
                      bool final_run, const std::string& dir,
                      const std::string& init_checkpoint) const;
  // Runs `runs` (at most o_.jobs at a time), filling each one's result.
  void RunAll(std::vector<Run*> runs);
  absl::StatusOr<RunResult> RunWorker(const Run& run);
  std::vector<std::string> Selected(bool from_scratch) const;
  const Run* Final(const std::string& variant, uint64_t seed) const;
  // Training iterations of one run of `variant`: PRETRAIN, or 2 x ROUNDS x STAGE if continued.
  int64_t IterationsOf(const std::string& variant) const;
  // The learning rate `variant`'s grid is centred on (--pretrain_lr, or --stage_lr if continued).
  double LrOf(const std::string& variant) const;
  // The axes `variant` is tuned over (TuningAxesOf for this experiment's head, grid, m-L2
  // reduction, number of identities and the base's chosen alpha_reg), and where its search
  // starts.
  std::vector<TuningAxis> AxesOf(const std::string& variant) const;
  TuningCandidate StartOf(const std::string& variant) const;
  // "pretrain_lr", "stage_lr" or "lr": what the variant's learning rate is called in its job.
  std::string LrNameOf(const std::string& variant) const;
  // The tuning runs a variant's search makes before any widening.
  int64_t InitialTuningRunsOf(const std::string& variant) const;
  // Plans every tuning and final run the experiment will make (for the progress lines).
  void PlanRuns();
  // The chosen values of `variant`, with the axes whose choice stayed on an edge named.
  std::string ChosenCell(const std::string& variant) const;

  const ExperimentOptions& o_;
  Clock::time_point start_;
  fs::path split_dir_;
  DataSplit split_;
  ExperimentBudget budget_;  // --budget, or AutoBudget of the split
  std::string pairs_path_, pairs_images_;
  v1::JobSpec base_;
  bool tune_ = true;
  std::map<std::string, TuningCandidate> chosen_;               // by variant
  std::map<std::string, std::vector<TuningOutcome>> outcomes_;  // by variant (tuned ones)
  int64_t tuning_runs_ = 0;
  std::string tuned_ml2_checkpoint_;  // softmax_ml2's chosen tuning run's checkpoint
  std::vector<std::unique_ptr<Run>> tuning_, finals_;
  absl::Mutex print_mutex_;  // one line at a time on stdout from the --jobs runner threads
  ExperimentProgress progress_ ABSL_GUARDED_BY(print_mutex_);

 public:
  // Runs that failed without stopping the experiment (the tables leave them out).
  std::vector<std::string> failures_;
  // The final runs' metrics by variant and column (filled by WriteResults).
  SeedValues values_;
};

absl::Status Experiment::MakeSplitAndPairs() {
  if (o_.split.holdout < 1)
    return absl::InvalidArgumentError("--holdout: the experiment needs hold-out probes (n >= 1)");
  FTL_ASSIGN_OR_RETURN(const SourceListing listing, ListSource(o_.source));
  absl::StatusOr<DataSplit> split = MakeSplit(listing, o_.split);
  if (!split.ok()) return absl::InvalidArgumentError(split.status().message());
  split_ = *std::move(split);
  split_dir_ = fs::path(o_.out) / "split";
  FTL_RETURN_IF_ERROR(WriteSplit(split_, split_dir_.string()));
  PrintSplit(split_);
  if (budget_.automatic) {
    const int64_t global_batch = static_cast<int64_t>(o_.batch_size) * o_.ranks;
    budget_ = AutoBudget(static_cast<int64_t>(split_.train.size()), global_batch);
    std::cout << absl::StrFormat(
        "experiment: --budget auto: %d,%d,%d (pretrain,rounds,stage): %d epochs of %d training "
        "images at %d per step, within [%d, %d] pretraining iterations; stages of pretrain/%d\n",
        budget_.pretrain, budget_.rounds, budget_.stage, kAutoBudgetEpochs, split_.train.size(),
        global_batch, kAutoBudgetMinPretrain, kAutoBudgetMaxPretrain, kAutoBudgetStageDivisor);
  }
  tune_ = o_.tune && !split_.validation.empty();
  if (o_.tune && !tune_) std::cout << "experiment: no validation images, so no tuning\n";

  pairs_path_ = o_.pairs;
  pairs_images_ = o_.pairs_images;
  if (!pairs_path_.empty()) {
    if (pairs_images_.empty() && o_.source.format == "image_folder") pairs_images_ = o_.source.path;
    return absl::OkStatus();
  }
  PairOptions pair_options;
  pair_options.folds = o_.folds;
  pair_options.seed = o_.split.seed;
  pair_options.per_fold =
      o_.per_fold > 0 ? o_.per_fold : DefaultPerFold(split_.holdout.size(), o_.folds);
  absl::StatusOr<GeneratedPairs> pairs = GeneratePairs(listing, split_.holdout, pair_options);
  if (!pairs.ok()) {
    std::cout << "experiment: no verification pairs: " << pairs.status().message() << "\n";
    return absl::OkStatus();
  }
  pairs_path_ = (split_dir_ / "pairs.txt").string();
  FTL_RETURN_IF_ERROR(
      WritePairsFile(pairs_path_, pairs->pairs, pair_options.folds, pair_options.per_fold));
  std::cout << absl::StrFormat(
      "experiment: %d verification pairs from the hold-out images (folds disjoint by %s)\n",
      pairs->pairs.size(), pairs->identity_disjoint ? "identity" : "image");
  return absl::OkStatus();
}

absl::Status Experiment::MakeBaseSpec() {
  if (!o_.base_config.empty()) {
    const absl::StatusOr<std::string> text = ReadFileToString(o_.base_config);
    if (!text.ok())
      return absl::InvalidArgumentError(
          absl::StrCat("--base_config: cannot read ", o_.base_config));
    absl::StatusOr<v1::JobSpec> parsed = JobSpecFromJson(*text);
    if (!parsed.ok())
      return absl::InvalidArgumentError(absl::StrCat("--base_config: ", parsed.status().message()));
    base_ = *parsed;
  }
  base_.mutable_model()->clear_preset();
  base_.mutable_model()->set_backbone(o_.preset);
  if (o_.head != "softmax") base_.mutable_loss()->set_head(o_.head);
  if (o_.input_size > 0) base_.mutable_model()->set_input_size(o_.input_size);
  if (o_.channels > 0) base_.mutable_model()->set_channels(o_.channels);
  v1::DataSpec* data = base_.mutable_data();
  data->set_format(o_.source.format);
  data->set_path(fs::absolute(o_.source.path).string());
  if (!o_.source.labels_path.empty())
    data->set_labels_path(fs::absolute(o_.source.labels_path).string());
  data->set_regular_identities(fs::absolute(split_dir_ / "regular.txt").string());
  data->set_center_crop(o_.center_crop);
  v1::TrainingSpec* training = base_.mutable_training();
  training->set_batch_size(o_.batch_size);
  training->set_evaluate_every_rounds(0);  // evaluate after the last round only
  base_.mutable_runtime()->set_progress_seconds(30);
  base_.mutable_runtime()->set_keep_checkpoints(1);
  // Catch a bad combination before hours of training (the checkpoint a continued variant starts
  // from does not exist yet: checked without it).
  for (const std::string& variant : o_.variants) {
    TuningCandidate candidate = StartOf(variant);
    candidate.lr = LrOf(variant);
    absl::StatusOr<JobConfig> check =
        JobConfigFromSpec(SpecFor(variant, candidate, 1, true, o_.out, ""));
    if (!check.ok()) return absl::InvalidArgumentError(check.status().message());
  }
  return absl::OkStatus();
}

v1::JobSpec Experiment::SpecFor(const std::string& variant, const TuningCandidate& candidate,
                                uint64_t seed, bool final_run, const std::string& dir,
                                const std::string& init_checkpoint) const {
  v1::JobSpec spec = base_;
  spec.set_name(absl::StrCat("experiment-", variant, final_run ? "" : "-tune"));
  v1::TrainingSpec* t = spec.mutable_training();
  // What tells the variants apart is set below, never taken from --base_config.
  t->clear_init_checkpoint();
  t->clear_pretrain_sampling();
  t->clear_stage1_transfer();
  t->clear_stage1_third_batch();
  spec.mutable_loss()->clear_logit_adjust_tau();
  spec.mutable_loss()->clear_class_balanced_beta();
  t->set_seed(seed);
  const ExperimentBudget& b = budget_;
  // m-L2's weight: the variant's own candidate, or the one chosen for softmax_ml2 (FTL and the
  // continued baselines start from that model and keep its loss).
  double alpha = candidate.alpha_reg;
  if (alpha < 0 && variant != "softmax" && o_.head == "softmax") {
    auto ml2 = chosen_.find("softmax_ml2");
    if (ml2 != chosen_.end()) alpha = ml2->second.alpha_reg;
  }
  if (alpha >= 0) spec.mutable_loss()->set_alpha_reg(alpha);
  // Under a margin head there is no m-L2: every baseline is method softmax with that head.
  const bool ml2 = o_.head == "softmax";
  if (FromScratch(variant, o_.head)) {
    t->set_method(variant == "softmax" || !ml2 ? "softmax" : "softmax_ml2");
    t->set_pretrain_iterations(b.pretrain);
    t->set_rounds(0);
    t->set_pretrain_lr(candidate.lr);
  } else if (const VariantPlan plan = PlanOf(variant, o_.head); plan.kind == VariantKind::kFtl) {
    t->set_method("ftl");
    t->set_pretrain_iterations(0);
    t->set_rounds(b.rounds);
    t->set_stage_iterations(b.stage);
    t->set_stage1_lr(candidate.lr);
    t->set_stage2_lr(candidate.lr);
    t->set_stage1_third_batch(ThirdBatchName(plan.third_batch));
    t->set_init_checkpoint(init_checkpoint);
  } else {  // the base continued, longer, with class-balanced sampling or logit adjustment
    t->set_method(ml2 ? "softmax_ml2" : "softmax");
    t->set_pretrain_iterations(WorkOf(plan, b).iterations);
    t->set_rounds(0);
    t->set_pretrain_lr(candidate.lr);
    t->set_init_checkpoint(init_checkpoint);
    if (IsClassBalanced(variant, o_.head)) t->set_pretrain_sampling("class_balanced");
    if (IsLogitAdjusted(variant, o_.head))
      spec.mutable_loss()->set_logit_adjust_tau(candidate.logit_adjust_tau);
    if (plan.class_balanced_loss && candidate.cb_horizon > 0)
      spec.mutable_loss()->set_class_balanced_beta(1.0 - 1.0 / candidate.cb_horizon);
  }
  spec.mutable_data()->set_manifest(
      fs::absolute(split_dir_ / (final_run ? "train.txt" : "fit.txt")).string());
  spec.mutable_evaluation()->set_holdout_manifest(
      fs::absolute(split_dir_ / (final_run ? "holdout.txt" : "validation.txt")).string());
  if (final_run && !pairs_path_.empty()) {
    spec.mutable_evaluation()->set_pairs_path(fs::absolute(pairs_path_).string());
    if (!pairs_images_.empty())
      spec.mutable_evaluation()->set_pairs_images(fs::absolute(pairs_images_).string());
  } else {
    spec.mutable_evaluation()->clear_pairs_path();
    spec.mutable_evaluation()->clear_pairs_images();
  }
  spec.mutable_runtime()->set_output_dir(fs::absolute(fs::path(dir) / "output").string());
  return spec;
}

absl::StatusOr<RunResult> Experiment::RunWorker(const Run& run) {
  std::error_code ec;
  fs::remove_all(run.dir, ec);
  fs::create_directories(run.dir, ec);
  const std::string config_path = (fs::path(run.dir) / "config.json").string();
  FTL_RETURN_IF_ERROR(WriteFileAtomically(
      config_path, ToJson(run.spec, JsonLayout::kIndented, JsonDefaults::kOmit)));
  const int threads =
      o_.threads > 0 ? o_.threads : std::max(1, Cores() / (o_.ranks * std::max(1, o_.jobs)));
  std::vector<std::string> argv = {o_.mpirun,         "-np",       std::to_string(o_.ranks),
                                   "--oversubscribe", "--bind-to", "none"};
  if (geteuid() == 0) argv.push_back("--allow-run-as-root");
  argv.insert(argv.end(), {FindWorker(o_.worker_binary), "--config", config_path, "--threads",
                           std::to_string(threads)});
  const std::string log_path = (fs::path(run.dir) / "log.txt").string();
  std::ofstream log(log_path);
  log << "$ " << DescribeCommand(argv) << "\n";
  // Runs side by side (--jobs) are told apart by their tag: the seed, or the tuning candidate.
  const std::string prefix =
      absl::StrCat("  [", run.variant,
                   run.final_run ? absl::StrCat(" seed ", run.seed)
                                 : absl::StrCat(" tune ", run.candidate.label),
                   "] ");
  const auto start = Clock::now();
  const absl::Status status = RunProcess(argv, [&](const std::string& line) {
    log << line;
    log.flush();
    absl::MutexLock lock(&print_mutex_);
    std::cout << prefix << line << std::flush;
  });
  absl::StatusOr<RunResult> result =
      status.ok() ? ReadRunResult(run.variant, run.spec.runtime().output_dir())
                  : absl::InternalError(absl::StrCat(run.variant, ": the worker failed (",
                                                     status.message(), "); see ", log_path));
  const auto end = Clock::now();
  const double seconds = std::chrono::duration<double>(end - start).count();
  absl::MutexLock lock(&print_mutex_);
  const std::string progress = progress_.Finished(
      IterationsOf(run.variant), std::chrono::duration<double>(end - start_).count());
  const std::string what = run.final_run ? absl::StrCat(run.variant, " seed ", run.seed)
                                         : absl::StrCat(run.variant, " ", run.candidate.label);
  if (!result.ok()) {
    std::cout << absl::StrFormat("experiment: %s failed (%.0f s; %s): %s\n", what, seconds,
                                 progress, result.status().message());
    return result;
  }
  result->seconds = seconds;
  if (run.final_run) {
    std::cout << absl::StrFormat("experiment: %s done: UR rank-1 on f %.4f (%.0f s; %s)\n", what,
                                 Metric(*result, metric_names::kHoldoutRank1UrF), seconds,
                                 progress);
  } else {
    std::cout << absl::StrFormat("experiment: %s: validation score %.4f (%.0f s; %s)\n", what,
                                 ValidationScore(*result), seconds, progress);
  }
  return result;
}

int64_t Experiment::IterationsOf(const std::string& variant) const {
  return WorkOf(PlanOf(variant, o_.head), budget_).iterations;
}

double Experiment::LrOf(const std::string& variant) const {
  return FromScratch(variant, o_.head) ? o_.pretrain_lr : o_.stage_lr;
}

Reduction Ml2ReductionOf(const v1::JobSpec& spec) {
  return spec.loss().ml2_reduction() == "sum" ? Reduction::kSum : Reduction::kMean;
}

std::vector<TuningAxis> Experiment::AxesOf(const std::string& variant) const {
  double inherited_alpha = 1.0;  // before the base is tuned: any positive value plans the same
  if (auto base = chosen_.find(BaseVariant(o_.head)); base != chosen_.end())
    inherited_alpha = base->second.alpha_reg;
  return TuningAxesOf(PlanOf(variant, o_.head), o_.head, o_.grid, LrOf(variant),
                      Ml2ReductionOf(base_), static_cast<int64_t>(split_.identities.size()),
                      inherited_alpha);
}

TuningCandidate Experiment::StartOf(const std::string& variant) const {
  return TuningStartOf(PlanOf(variant, o_.head), Ml2ReductionOf(base_),
                       static_cast<int64_t>(split_.identities.size()));
}

std::string Experiment::LrNameOf(const std::string& variant) const {
  return FromScratch(variant, o_.head) ? "pretrain_lr"
                                       : (IsFtl(variant, o_.head) ? "stage_lr" : "lr");
}

int64_t Experiment::InitialTuningRunsOf(const std::string& variant) const {
  const std::vector<TuningAxis> axes = AxesOf(variant);
  int64_t runs = 0;
  for (const TuningAxis& axis : axes) runs += axis.initial.size() + axis.fixed.size();
  return runs - (static_cast<int64_t>(axes.size()) - 1);  // each later axis' centre is carried
}

void Experiment::PlanRuns() {
  int64_t runs = 0;
  absl::MutexLock lock(&print_mutex_);
  for (const std::string& variant : o_.variants) {
    const int64_t tuning = tune_ ? InitialTuningRunsOf(variant) : 0;
    const int64_t variant_runs = tuning + static_cast<int64_t>(o_.seeds.size());
    progress_.Plan(variant_runs, IterationsOf(variant));
    runs += variant_runs;
  }
  std::cout << "experiment: " << runs << " trainings planned (" << o_.variants.size()
            << " variants: tuning " << (tune_ ? o_.grid : std::string("off"))
            << (tune_ && o_.grid == "full" ? ", more where a choice on an edge widens its axis"
                                           : "")
            << ", " << o_.seeds.size() << " seed(s)), " << o_.jobs << " at a time\n";
}

void Experiment::RunAll(std::vector<Run*> runs) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < runs.size();) runs[i]->result = RunWorker(*runs[i]);
  };
  const int threads = std::max(1, std::min<int>(o_.jobs, static_cast<int>(runs.size())));
  std::vector<std::thread> pool;
  for (int k = 1; k < threads; ++k) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

std::vector<std::string> Experiment::Selected(bool from_scratch) const {
  std::vector<std::string> out;
  for (const std::string& v : o_.variants) {
    if (FromScratch(v, o_.head) == from_scratch) out.push_back(v);
  }
  return out;
}

absl::Status Experiment::Tune() {
  PlanRuns();
  std::ofstream tuning_csv(fs::path(o_.out) / "tuning.csv");
  tuning_csv << "variant,candidate,val_reg_rank1_f,val_ur_rank1_f,score,seconds\n";
  // Two groups: the from-scratch variants, then those starting from the base's chosen model.
  // Within a group every variant's search advances wave by wave (a wave: the candidates every
  // search asks for next, run side by side).
  for (const bool from_scratch : {true, false}) {
    std::map<std::string, CoordinateTuner> tuners;
    std::map<std::string, int64_t> planned;  // tuning runs before any widening (PlanRuns' count)
    for (const std::string& variant : Selected(from_scratch)) {
      if (!tune_) {
        TuningCandidate fixed = StartOf(variant);
        fixed.lr = LrOf(variant);
        fixed.label = TuningLabel(fixed, LrNameOf(variant));
        chosen_[variant] = fixed;
        continue;
      }
      tuners.emplace(variant,
                     CoordinateTuner(StartOf(variant), AxesOf(variant), LrNameOf(variant)));
      planned[variant] = InitialTuningRunsOf(variant);
    }
    std::map<std::string, int64_t> issued;  // tuning runs per variant so far
    std::map<std::string, std::map<std::string, const Run*>> run_of;  // variant, label -> run
    for (;;) {
      std::vector<Run*> wave;
      for (auto& [variant, tuner] : tuners) {
        for (const TuningCandidate& candidate : tuner.Next()) {
          auto run = std::make_unique<Run>();
          run->variant = variant;
          run->seed = o_.tuning_seed;
          run->dir =
              (fs::path(o_.out) / "tune" / absl::StrCat(variant, "-", issued[variant]++)).string();
          run->candidate = candidate;
          run->spec =
              SpecFor(variant, candidate, run->seed, false, run->dir, tuned_ml2_checkpoint_);
          if (issued[variant] > planned[variant]) {
            absl::MutexLock lock(&print_mutex_);
            progress_.Plan(1, IterationsOf(variant));  // a widening the plan did not count
          }
          run_of[variant][candidate.label] = run.get();
          wave.push_back(run.get());
          tuning_.push_back(std::move(run));
        }
      }
      if (wave.empty()) break;
      std::cout << "experiment: tuning " << wave.size() << " runs on the validation split\n";
      RunAll(wave);
      for (Run* run : wave) {
        double score = std::nan("");
        if (!run->result.ok()) {
          // One failed candidate leaves the others to choose from; its error is kept for the end.
          failures_.push_back(absl::StrCat("tuning ", run->variant, " ", run->candidate.label, ": ",
                                           run->result.status().message()));
          tuning_csv << run->variant << "," << run->candidate.label << ",nan,nan,nan,nan\n";
        } else {
          score = ValidationScore(*run->result);
          tuning_csv << run->variant << "," << run->candidate.label << ","
                     << Metric(*run->result, metric_names::kHoldoutRank1RegularF) << ","
                     << Metric(*run->result, metric_names::kHoldoutRank1UrF) << "," << score << ","
                     << run->result->seconds << "\n";
        }
        tuners.at(run->variant).Record(run->candidate, score);
      }
      tuning_csv.flush();
      tuning_runs_ += static_cast<int64_t>(wave.size());
    }
    for (const auto& [variant, tuner] : tuners) {
      if (!tuner.AnySucceeded()) {
        return absl::InternalError(absl::StrCat("every tuning run of ", variant, " failed"));
      }
      chosen_[variant] = tuner.Chosen();
      outcomes_[variant] = tuner.Outcomes();
      if (variant == BaseVariant(o_.head)) {
        const Run* run = run_of[variant].at(tuner.Chosen().label);
        if (run->result.ok()) tuned_ml2_checkpoint_ = run->result->checkpoint;
      }
    }
    if (from_scratch && tuned_ml2_checkpoint_.empty() && !Selected(false).empty() && tune_) {
      return absl::InternalError(
          absl::StrCat(BaseVariant(o_.head), "'s tuning runs left no checkpoint to continue from"));
    }
  }
  for (const auto& [variant, candidate] : chosen_)
    std::cout << "experiment: " << variant << " chose " << ChosenCell(variant) << "\n";
  return absl::OkStatus();
}

std::string Experiment::ChosenCell(const std::string& variant) const {
  auto chosen = chosen_.find(variant);
  if (chosen == chosen_.end()) return "";
  std::vector<std::string> edges;
  if (auto outcomes = outcomes_.find(variant); outcomes != outcomes_.end()) {
    for (const TuningOutcome& o : outcomes->second) {
      if (!o.at_edge) continue;
      edges.push_back(TuningKnobName(o.knob));
    }
  }
  return edges.empty()
             ? chosen->second.label
             : absl::StrCat(chosen->second.label, " (edge: ", absl::StrJoin(edges, ", "), ")");
}

const Run* Experiment::Final(const std::string& variant, uint64_t seed) const {
  for (const auto& run : finals_) {
    if (run->variant == variant && run->seed == seed) return run.get();
  }
  return nullptr;
}

absl::Status Experiment::TrainFinalRuns() {
  for (const bool from_scratch : {true, false}) {
    if (Selected(from_scratch).empty()) continue;
    std::vector<Run*> wave;
    for (const uint64_t seed : o_.seeds) {
      std::string init;
      if (!from_scratch) {
        const Run* ml2 = Final(BaseVariant(o_.head), seed);
        if (ml2 == nullptr || !ml2->result.ok()) {
          failures_.push_back(absl::StrCat("seed ", seed, ": no continued variant trained (",
                                           BaseVariant(o_.head), " failed)"));
          absl::MutexLock lock(&print_mutex_);
          for (const std::string& variant : Selected(false))
            progress_.Drop(1, IterationsOf(variant));
          continue;
        }
        init = ml2->result->checkpoint;
      }
      for (const std::string& variant : Selected(from_scratch)) {
        auto run = std::make_unique<Run>();
        run->variant = variant;
        run->seed = seed;
        run->final_run = true;
        run->dir = (fs::path(o_.out) / "runs" / variant / absl::StrCat("seed", seed)).string();
        run->candidate = chosen_.at(variant);
        run->spec = SpecFor(variant, run->candidate, seed, true, run->dir, init);
        wave.push_back(run.get());
        finals_.push_back(std::move(run));
      }
    }
    if (wave.empty()) continue;
    std::cout << "experiment: " << wave.size() << " final runs (" << o_.seeds.size() << " seeds)\n";
    RunAll(wave);
    for (Run* run : wave) {
      if (!run->result.ok()) {
        failures_.push_back(
            absl::StrCat(run->variant, " seed ", run->seed, ": ", run->result.status().message()));
      }
    }
  }
  return absl::OkStatus();
}

void Experiment::AnalyzeFirstSeed() {
  const uint64_t seed = o_.seeds.front();
  for (const std::string& variant : o_.variants) {
    const Run* run = Final(variant, seed);
    if (run == nullptr || !run->result.ok()) continue;
    const std::string dir = (fs::path(o_.out) / "runs" / variant / "analysis").string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    v1::JobSpec spec = run->spec;
    spec.mutable_runtime()->set_output_dir(dir);  // weight_norms.csv lands beside the pictures
    spec.mutable_evaluation()->Clear();
    spec.mutable_training()->clear_init_checkpoint();
    absl::StatusOr<JobConfig> config = JobConfigFromSpec(spec);
    absl::StatusOr<Dataset> dataset =
        config.ok() ? LoadDataset(config->data, config->model, config->training.seed)
                    : absl::StatusOr<Dataset>(config.status());
    if (!dataset.ok()) {
      std::cout << "experiment: no pictures for " << variant << ": " << dataset.status().message()
                << "\n";
      continue;
    }
    at::set_num_threads(Cores());
    std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
    Trainer trainer(*config, *dataset, *comm);
    absl::StatusOr<int64_t> loaded = trainer.LoadCheckpoint(run->result->checkpoint);
    if (!loaded.ok()) {
      std::cout << "experiment: no pictures for " << variant << ": " << loaded.status().message()
                << "\n";
      continue;
    }
    trainer.Evaluate();  // writes weight_norms.csv
    std::string before, after;
    if (IsFtl(variant, o_.head)) {
      const fs::path output = run->spec.runtime().output_dir();
      before = (output / "weight_norms_stage1_r0_before.csv").string();
      after = (output / absl::StrCat("weight_norms_stage1_r", budget_.rounds - 1, "_after.csv"))
                  .string();
      if (!fs::exists(before) || !fs::exists(after)) before = after = "";
    }
    std::cout << "experiment: figures of " << variant << " (seed " << seed << ")\n";
    if (absl::Status s =
            AnalyzeModel(trainer, *dataset, dir, o_.split.seed, o_.plot_script, before, after);
        !s.ok()) {
      std::cout << "experiment: pictures of " << variant << ": " << s.message() << "\n";
    }
  }
}

absl::Status Experiment::WriteResults() {
  std::ostringstream per_seed, csv, md;
  per_seed << "variant,seed";
  for (const MetricColumn& c : kColumns) per_seed << "," << c.column;
  per_seed << ",chosen,train_seconds\n";
  csv << "variant";
  for (const MetricColumn& c : kColumns) csv << "," << c.column;
  csv << ",chosen,train_seconds,seeds";
  for (const MetricColumn& c : kColumns) csv << "," << c.column << "_se";
  csv << ",iterations,encoder_steps,filter_steps,classifier_steps,images\n";
  md << "| variant |";
  for (const MetricColumn& c : kColumns) md << " " << c.header << " |";
  md << " chosen |\n|---|";
  for (size_t i = 0; i < std::size(kColumns); ++i) md << "---|";
  md << "---|\n";
  // values[variant][column] over seeds, in seed order.
  SeedValues& values = values_;
  for (const std::string& variant : o_.variants) {
    double seconds = 0;
    int completed = 0;
    for (const uint64_t seed : o_.seeds) {
      const Run* run = Final(variant, seed);
      if (run == nullptr || !run->result.ok()) {
        // A failed run: NaN keeps the other variants' values paired by seed.
        for (const MetricColumn& c : kColumns) values[variant][c.column].push_back(std::nan(""));
        continue;
      }
      per_seed << variant << "," << seed;
      for (const MetricColumn& c : kColumns) {
        const double v = Metric(*run->result, c.metric);
        values[variant][c.column].push_back(v);
        per_seed << "," << CsvNumber(v);
      }
      per_seed << "," << run->candidate.label << "," << run->result->seconds << "\n";
      seconds += run->result->seconds;
      ++completed;
    }
    const std::string chosen = ChosenCell(variant);
    csv << variant;
    md << "| " << variant << " |";
    std::vector<MeanSe> summaries;
    for (const MetricColumn& c : kColumns)
      summaries.push_back(Summarize(values[variant][c.column]));
    for (const MeanSe& s : summaries) {
      csv << "," << CsvNumber(s.mean);
      md << " " << Cell(s.mean) << (std::isnan(s.se) ? "" : absl::StrFormat(" ± %.3f", s.se))
         << " |";
    }
    csv << "," << chosen << "," << seconds / std::max(1, completed) << "," << completed;
    for (const MeanSe& s : summaries) csv << "," << CsvNumber(s.se);
    const VariantWork w = WorkOf(PlanOf(variant, o_.head), budget_);
    csv << "," << w.iterations << "," << w.encoder_steps << "," << w.filter_steps << ","
        << w.classifier_steps << "," << w.image_batches * int64_t{o_.batch_size} * o_.ranks << "\n";
    md << " " << chosen << " |\n";
  }
  // What each variant's own training did (the base's pretraining not counted for those that
  // start from it): FTL's stage 1 steps R and FC two or three times per iteration.
  const int64_t global_batch = int64_t{o_.batch_size} * o_.ranks;
  md << "\nWork of each variant's own training (planned; from the base's model for all but the "
        "from-scratch ones; real images, not transferred features, and not UpdateStats' "
        "passes):\n\n| variant | iterations | encoder steps | R steps | FC steps | "
        "images encoded |\n|---|---|---|---|---|---|\n";
  for (const std::string& variant : o_.variants) {
    const VariantWork w = WorkOf(PlanOf(variant, o_.head), budget_);
    md << "| " << variant << " | " << w.iterations << " | " << w.encoder_steps << " | "
       << w.filter_steps << " | " << w.classifier_steps << " | " << w.image_batches * global_batch
       << " |\n";
  }
  // FTL's paired differences: for each seed, FTL minus the other variant (same split, same seed,
  // same starting model for the continued variants).
  if (values.count("ftl") && o_.variants.size() > 1) {
    md << "\nFTL minus each variant, paired by seed (mean ± s.e. of the difference; FTL higher / "
          "lower "
          "in how many of "
       << o_.seeds.size() << " seeds):\n\n| variant |";
    for (const char* column : kPairedColumns) md << " " << column << " |";
    md << "\n|---|";
    for (size_t i = 0; i < std::size(kPairedColumns); ++i) md << "---|";
    md << "\n";
    for (const std::string& variant : o_.variants) {
      if (variant == "ftl") continue;
      md << "| " << variant << " |";
      for (const char* column : kPairedColumns) {
        md << " " << PairedCell(PairedDifferenceOf(values["ftl"][column], values[variant][column]))
           << " |";
      }
      md << "\n";
    }
  }
  const double minutes = std::chrono::duration<double>(Clock::now() - start_).count() / 60;
  md << "\n"
     << split_.train.size() << " training images, " << split_.holdout.size()
     << " hold-out probes; budget " << budget_.pretrain << "," << budget_.rounds << ","
     << budget_.stage << " (pretrain,rounds,stage); seeds " << absl::StrJoin(o_.seeds, ",") << "; "
     << o_.ranks << (o_.ranks == 1 ? " rank; " : " ranks; ") << absl::StrFormat("%.1f", minutes)
     << " min in all.\n";
  // How the split chose its UR people and their validation images (docs/experiments.md, Split).
  int64_t ur = 0, beyond = 0;
  for (const IdentitySplit& s : split_.identities) {
    ur += !s.regular;
    beyond += s.validation_beyond_budget;
  }
  if (tune_) {
    md << "Tuning: " << tuning_runs_ << " runs with seed " << o_.tuning_seed
       << " on fit.txt, scored on validation.txt; "
       << (o_.grid == "full" ? "an edge choice widened its axis (the learning rate up to twice, "
                               "softmax_ml2's alpha_reg, tau and cb_beta once, the continued "
                               "variants' alpha_reg never), \"(edge: ...)\" where a choice "
                               "stayed on one"
                             : "the quick grid (lr x {1, 1/3}, not widened)")
       << ".\n";
  }
  md << "Split seed " << o_.split.seed << ", roles "
     << (o_.split.roles == SplitRoles::kDrawn ? "drawn" : "by_count") << "; " << ur
     << " UR identities, " << beyond
     << " of them validated on images beyond their training budget (the others' validation "
        "images carved from it).\n";
  FTL_RETURN_IF_ERROR(
      WriteFileAtomically((fs::path(o_.out) / "results_seeds.csv").string(), per_seed.str()));
  FTL_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o_.out) / "results.csv").string(), csv.str()));
  FTL_RETURN_IF_ERROR(WriteFileAtomically((fs::path(o_.out) / "results.md").string(), md.str()));
  std::cout << "\n"
            << md.str()
            << "\nexperiment: results.csv, results_seeds.csv, results.md, tuning.csv in " << o_.out
            << "\n";
  return absl::OkStatus();
}

// Over several splits (--splits): each variant's mean over the split means, and FTL's paired
// differences over the split means and over every (split, seed) run, in results_splits.md and
// results_splits.csv.
absl::Status WriteSplitResults(const ExperimentOptions& o, const std::vector<uint64_t>& split_seeds,
                               const std::vector<SeedValues>& per_split) {
  auto values_of = [&](size_t k, const std::string& variant, const std::string& column) {
    auto v = per_split[k].find(variant);
    if (v == per_split[k].end()) return std::vector<double>{};
    auto c = v->second.find(column);
    return c == v->second.end() ? std::vector<double>{} : c->second;
  };
  // split_means[variant][column][k], all_runs[variant][column]: split by split, seed by seed.
  std::map<std::string, std::map<std::string, std::vector<double>>> split_means, all_runs;
  for (const std::string& variant : o.variants) {
    for (const char* column : kPairedColumns) {
      for (size_t k = 0; k < per_split.size(); ++k) {
        std::vector<double> v = values_of(k, variant, column);
        v.resize(o.seeds.size(), std::nan(""));  // a split that trained none keeps its place
        split_means[variant][column].push_back(Summarize(v).mean);
        all_runs[variant][column].insert(all_runs[variant][column].end(), v.begin(), v.end());
      }
    }
  }
  auto cell = [](const MeanSe& m) {
    return absl::StrCat(std::isnan(m.mean) ? "-" : absl::StrFormat("%.4f", m.mean),
                        std::isnan(m.se) ? "" : absl::StrFormat(" ± %.4f", m.se));
  };
  std::ostringstream md, csv;
  csv << "variant,column,mean_over_splits,se_over_splits,splits,ftl_minus_over_splits,"
         "ftl_minus_se_over_splits,ftl_higher_splits,ftl_lower_splits,ftl_minus_over_runs,"
         "ftl_minus_se_over_runs,ftl_higher_runs,ftl_lower_runs\n";
  auto header = [&] {
    md << "| variant |";
    for (const char* column : kPairedColumns) md << " " << column << " |";
    md << "\n|---|";
    for (size_t i = 0; i < std::size(kPairedColumns); ++i) md << "---|";
    md << "\n";
  };
  md << "Over " << per_split.size() << " splits (split seeds " << absl::StrJoin(split_seeds, ",")
     << "; training seeds " << absl::StrJoin(o.seeds, ",") << " in each): the mean over the "
     << "splits of each split's mean over seeds, ± the standard error over splits.\n\n";
  header();
  for (const std::string& variant : o.variants) {
    md << "| " << variant << " |";
    for (const char* column : kPairedColumns)
      md << " " << cell(Summarize(split_means[variant][column])) << " |";
    md << "\n";
  }
  const bool has_ftl = split_means.count("ftl") > 0 && o.variants.size() > 1;
  for (const bool over_splits : {true, false}) {
    if (!has_ftl) break;
    md << "\nFTL minus each variant, paired by "
       << (over_splits ? absl::StrCat("split (split means; FTL higher / lower in how many of ",
                                      per_split.size(), " splits)")
                       : absl::StrCat("run (every split and seed; FTL higher / lower in how many "
                                      "of ",
                                      per_split.size() * o.seeds.size(), " runs)"))
       << ":\n\n";
    header();
    for (const std::string& variant : o.variants) {
      if (variant == "ftl") continue;
      md << "| " << variant << " |";
      for (const char* column : kPairedColumns) {
        const auto& a = over_splits ? split_means["ftl"][column] : all_runs["ftl"][column];
        const auto& b = over_splits ? split_means[variant][column] : all_runs[variant][column];
        md << " " << PairedCell(PairedDifferenceOf(a, b)) << " |";
      }
      md << "\n";
    }
  }
  for (const std::string& variant : o.variants) {
    for (const char* column : kPairedColumns) {
      const MeanSe m = Summarize(split_means[variant][column]);
      csv << variant << "," << column << "," << CsvNumber(m.mean) << "," << CsvNumber(m.se) << ","
          << m.n;
      if (has_ftl && variant != "ftl") {
        const PairedDifference s =
            PairedDifferenceOf(split_means["ftl"][column], split_means[variant][column]);
        const PairedDifference r =
            PairedDifferenceOf(all_runs["ftl"][column], all_runs[variant][column]);
        csv << "," << CsvNumber(s.difference.mean) << "," << CsvNumber(s.difference.se) << ","
            << s.higher << "," << s.lower << "," << CsvNumber(r.difference.mean) << ","
            << CsvNumber(r.difference.se) << "," << r.higher << "," << r.lower;
      } else {
        csv << ",nan,nan,0,0,nan,nan,0,0";
      }
      csv << "\n";
    }
  }
  FTL_RETURN_IF_ERROR(
      WriteFileAtomically((fs::path(o.out) / "results_splits.md").string(), md.str()));
  FTL_RETURN_IF_ERROR(
      WriteFileAtomically((fs::path(o.out) / "results_splits.csv").string(), csv.str()));
  std::cout << "\n"
            << md.str() << "\nexperiment: results_splits.md, results_splits.csv in " << o.out
            << "\n";
  return absl::OkStatus();
}

int ExitCode(const absl::Status& status) {
  return Fail(std::string(status.message()),
              status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
}

}  // namespace

std::vector<std::string> ExperimentVariants(const std::string& head) {
  std::vector<std::string> names;
  for (const VariantPlan& plan : ExperimentVariantPlans(head)) names.push_back(plan.name);
  return names;
}

std::string VariantForHead(const std::string& variant, const std::string& head) {
  if (head == "softmax" || variant.rfind("softmax_ml2", 0) != 0) return variant;
  return head + variant.substr(std::string("softmax_ml2").size());
}

absl::StatusOr<std::vector<uint64_t>> ParseSeeds(const std::string& text) {
  std::vector<uint64_t> seeds;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(part, &seed)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--seeds: '", part, "' is not a seed (e.g. --seeds 1,2,3)"));
    }
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end()) {
      return absl::InvalidArgumentError(absl::StrCat("--seeds: ", seed, " is given twice"));
    }
    seeds.push_back(seed);
  }
  if (seeds.empty()) return absl::InvalidArgumentError("--seeds: none given");
  return seeds;
}

int RunExperiment(const ExperimentOptions& given) {
  if (given.variants.empty()) return Fail("--variants: none given", 2);
  if (given.head != "softmax" && given.head != "cosface" && given.head != "arcface") {
    return Fail(absl::StrCat("--head: softmax, cosface or arcface, got '", given.head, "'"), 2);
  }
  const std::vector<std::string> known = ExperimentVariants(given.head);
  const std::string base = BaseVariant(given.head);
  std::set<std::string> wanted;
  std::vector<std::string> named_variants = given.variants;
  if (named_variants == std::vector<std::string>{"all"}) named_variants = known;
  for (const std::string& named : named_variants) {
    // The softmax names stand for their margin-head counterparts (softmax_ml2_cb -> arcface_cb);
    // plain softmax is the margin head's base itself.
    const std::string v =
        named == "softmax" && given.head != "softmax" ? base : VariantForHead(named, given.head);
    if (std::find(known.begin(), known.end(), v) == known.end()) {
      return Fail(absl::StrCat("--variants: unknown variant '", named, "' (",
                               absl::StrJoin(known, ", "), ")"),
                  2);
    }
    wanted.insert(v);
    // Every continued variant starts from the base's model.
    if (!FromScratch(v, given.head) && wanted.insert(base).second) {
      std::cout << "experiment: " << v << " continues from " << base << "'s model, so " << base
                << " trains too\n";
    }
  }
  ExperimentOptions options = given;
  options.variants.clear();
  for (const std::string& v : known) {
    if (wanted.count(v)) options.variants.push_back(v);
  }
  if (options.grid != "full" && options.grid != "quick") {
    return Fail(absl::StrCat("--grid: must be full or quick, got '", options.grid, "'"), 2);
  }
  if (options.jobs < 1) return Fail("--jobs: must be at least 1", 2);
  if (options.seeds.empty()) return Fail("--seeds: none given", 2);
  if (options.tuning_seed == 0)
    options.tuning_seed = *std::max_element(options.seeds.begin(), options.seeds.end()) + 1;
  if (std::find(options.seeds.begin(), options.seeds.end(), options.tuning_seed) !=
      options.seeds.end()) {
    return Fail(absl::StrCat("--tuning_seed: ", options.tuning_seed,
                             " is one of the final --seeds; tuning on a final seed lets the runs "
                             "being compared choose their own settings (give another seed, or "
                             "leave it out: the largest final seed + 1)"),
                2);
  }
  if (options.splits < 1) return Fail("--splits: must be at least 1", 2);
  std::vector<SeedValues> per_split;
  std::vector<uint64_t> split_seeds;
  std::vector<std::string> failures;
  for (int k = 0; k < options.splits; ++k) {
    ExperimentOptions split_options = options;
    split_options.split.seed = options.split.seed + static_cast<uint64_t>(k);
    if (options.splits > 1) {
      split_options.out =
          (fs::path(options.out) / absl::StrCat("split", split_options.split.seed)).string();
      std::cout << "experiment: split " << k + 1 << "/" << options.splits << " (split seed "
                << split_options.split.seed << ") in " << split_options.out << "\n";
    }
    Experiment experiment(split_options);
    for (const auto& step : std::vector<std::function<absl::Status()>>{
             [&] { return experiment.MakeSplitAndPairs(); },
             [&] { return experiment.MakeBaseSpec(); }, [&] { return experiment.Tune(); },
             [&] { return experiment.TrainFinalRuns(); }}) {
      if (absl::Status s = step(); !s.ok()) return ExitCode(s);
    }
    experiment.AnalyzeFirstSeed();
    if (absl::Status s = experiment.WriteResults(); !s.ok()) return ExitCode(s);
    for (const std::string& f : experiment.failures_)
      failures.push_back(
          options.splits > 1 ? absl::StrCat("split ", split_options.split.seed, ": ", f) : f);
    per_split.push_back(experiment.values_);
    split_seeds.push_back(split_options.split.seed);
  }
  if (options.splits > 1) {
    if (absl::Status s = WriteSplitResults(options, split_seeds, per_split); !s.ok())
      return ExitCode(s);
  }
  if (!failures.empty()) {
    return Fail(absl::StrCat(failures.size(), " run(s) failed (left out of the tables):\n  ",
                             absl::StrJoin(failures, "\n  ")));
  }
  return 0;
}

}  // namespace ftl
