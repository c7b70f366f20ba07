#include "services/cli/local_tools.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/analysis/analysis.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/comm/communicator.h"
#include "common/config/job_config.h"
#include "common/data/dataset.h"
#include "common/data/recordio.h"
#include "common/protocol/protocol.h"
#include "common/train/trainer.h"
#include "common/util/status_macros.h"
#include "google/protobuf/util/json_util.h"

ABSL_FLAG(std::string, data, "",
          "split/pairs/experiment/pack: an image folder (one sub-folder per identity), a RecordIO "
          "file (*.rec, its .idx beside it) or, with --labels, an IDX images file");
ABSL_FLAG(std::string, labels, "", "split/pairs/experiment: the IDX labels file, or a RecordIO .idx elsewhere");
ABSL_FLAG(std::string, out, "", "split/experiment/eval: output folder; pairs: output file");
ABSL_FLAG(int, regular, 0, "split/experiment: the first K identities by image count stay regular");
ABSL_FLAG(int, ur_images, 0, "split/experiment: the other identities keep at most k training images (0 = all)");
ABSL_FLAG(int, holdout, 0, "split/experiment: hold out n probe images per identity");
ABSL_FLAG(int, min_train, 1, "split/experiment: hold out only where at least this many training images remain");
ABSL_FLAG(int, validation, 2,
          "split/experiment: images per identity carved from the training images to choose "
          "hyper-parameters on (never the hold-out probes)");
ABSL_FLAG(uint64_t, seed, 1, "split/pairs/experiment: seed (the split, pairs and training)");
ABSL_FLAG(std::string, train_list, "",
          "split/experiment: only these identities (LFW people file such as peopleDevTrain.txt, or "
          "one name per line)");
ABSL_FLAG(std::string, manifest, "", "pairs: only images listed in this manifest (e.g. holdout.txt)");
ABSL_FLAG(int, folds, 10, "pairs/experiment: folds of generated pairs");
ABSL_FLAG(int, per_fold, 0, "pairs/experiment: same pairs per fold (as many different); 0 = up to 300 as the images allow");
ABSL_FLAG(std::string, checkpoint, "", "eval: a checkpoint file, or a folder (its newest readable one)");
ABSL_FLAG(std::string, config, "", "eval: the job config the checkpoint was trained with");
ABSL_FLAG(std::string, plot_script, FTL_PLOT_SCRIPT, "eval/experiment: the matplotlib script for PNG plots");
ABSL_FLAG(std::string, variants, "softmax,softmax_ml2,ftl", "experiment: variants to train");
ABSL_FLAG(std::string, budget, "300,2,100",
          "experiment: PRETRAIN,ROUNDS,STAGE iterations. FTL pre-trains PRETRAIN iterations then runs "
          "ROUNDS x (STAGE stage-1 + STAGE stage-2); the baselines train PRETRAIN + ROUNDS x STAGE "
          "iterations, i.e. the same number of full-model steps");
ABSL_FLAG(std::string, preset, "small", "experiment: model preset");
ABSL_FLAG(int, input_size, 0, "experiment: input side override (0 = the preset's)");
ABSL_FLAG(int, channels, 0, "experiment: 1 grey / 3 colour override (0 = the preset's)");
ABSL_FLAG(double, center_crop, 1.0, "experiment: centre-crop fraction before resizing (LFW: 0.5)");
ABSL_FLAG(int, batch_size, 32, "experiment: images per rank per step");
ABSL_FLAG(double, pretrain_lr, 1e-3, "experiment: Adam learning rate of pre-training / baselines");
ABSL_FLAG(double, stage_lr, 1e-4, "experiment: learning rate of FTL's stage 1 and stage 2");
ABSL_FLAG(bool, tune, true,
          "experiment: choose each variant's hyper-parameter from two candidates on the validation "
          "split (softmax: pretrain_lr x1 or /3; softmax_ml2: alpha_reg 0.05 or 0.25; ftl: stage_lr "
          "x1 or /5) before the final runs");
ABSL_FLAG(std::string, pairs, "", "experiment: an LFW-format pairs file (default: generated from the hold-out images)");
ABSL_FLAG(std::string, pairs_images, "",
          "experiment: root of the images the --pairs file names (LFW layout); default --data");
ABSL_FLAG(int, ranks, 2, "experiment: MPI ranks per run");
ABSL_FLAG(int, threads, 0, "experiment: intra-op threads per rank (0 = cores / ranks)");
ABSL_FLAG(std::string, worker_binary, "", "experiment: ftl_worker (default: next to ftl, or in the build tree)");
ABSL_FLAG(std::string, mpirun, "mpirun", "experiment: the MPI launcher");
ABSL_FLAG(std::string, base_config, "",
          "experiment: a JobSpec JSON whose other fields (loss weights, PCA, ...) every run starts from");

namespace ftl {
namespace {

namespace fs = std::filesystem;

int Fail(const std::string& message, int code = 1) {
  std::cerr << "ftl: error: " << message << "\n";
  return code;
}

int Cores() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

DataConfig SourceFromFlags() {
  DataConfig data;
  data.path = absl::GetFlag(FLAGS_data);
  data.labels_path = absl::GetFlag(FLAGS_labels);
  const std::string& path = data.path;
  if (path.size() > 4 && path.compare(path.size() - 4, 4, ".rec") == 0) {
    data.format = "recordio";
  } else {
    data.format = data.labels_path.empty() ? "image_folder" : "idx";
  }
  return data;
}

absl::StatusOr<SplitOptions> SplitOptionsFromFlags() {
  SplitOptions options;
  options.regular = absl::GetFlag(FLAGS_regular);
  options.ur_images = absl::GetFlag(FLAGS_ur_images);
  options.holdout = absl::GetFlag(FLAGS_holdout);
  options.min_train = absl::GetFlag(FLAGS_min_train);
  options.validation = absl::GetFlag(FLAGS_validation);
  options.seed = absl::GetFlag(FLAGS_seed);
  if (!absl::GetFlag(FLAGS_train_list).empty()) {
    FTL_ASSIGN_OR_RETURN(options.identities, ReadIdentityList(absl::GetFlag(FLAGS_train_list)));
  }
  return options;
}

void PrintSplit(const DataSplit& split) {
  int64_t regular = 0, ur = 0;
  for (const IdentitySplit& s : split.identities) (s.regular ? regular : ur) += 1;
  std::cout << absl::StrFormat(
      "split: %d identities (%d regular, %d UR): %d training images (%d for fitting + %d validation), "
      "%d hold-out probes\n",
      split.identities.size(), regular, ur, split.train.size(), split.fit.size(), split.validation.size(),
      split.holdout.size());
}

// Pairs per fold that the hold-out images comfortably allow: at most 300 (LFW's), at least 5.
int DefaultPerFold(size_t images, int folds) {
  return std::clamp(static_cast<int>(images / (2 * std::max(folds, 1))), 5, 300);
}

absl::StatusOr<std::string> NewestReadableCheckpoint(const std::string& path) {
  if (!fs::is_directory(path)) return path;
  std::vector<std::string> files = ListCheckpoints(path);
  if (files.empty()) return absl::NotFoundError(absl::StrCat(path, ": no *.ftlckpt checkpoint"));
  return files.back();
}

// Writes the figures and pictures of a trained model into `out`: weight_norms.csv (by the
// evaluate phase), center_error.csv, fig1b/fig4a PNG plots, centers/transfer/interpolation PNG.
absl::Status AnalyzeModel(Trainer& trainer, const Dataset& dataset, const std::string& out) {
  if (!trainer.statistics().valid) {
    std::cout << "eval: computing class centres and Q (UpdateStats) for the pictures\n";
    trainer.UpdateStats();
  }
  const std::vector<CenterErrorRow> errors = CenterEstimationError(
      trainer.model(), dataset, trainer.regular_classes(), {1, 5, 10, 20}, 10, absl::GetFlag(FLAGS_seed));
  const std::string errors_csv = (fs::path(out) / "center_error.csv").string();
  FTL_RETURN_IF_ERROR(WriteCenterErrorCsv(errors_csv, errors));
  for (const CenterErrorRow& r : errors) {
    std::cout << absl::StrFormat("  centre error %-8s %2d images: %.4f (+- %.4f, %d classes)\n", r.method,
                                 r.images, r.mean_error, r.std_error, r.classes);
  }
  const FtlStatistics& stats = trainer.statistics();
  FTL_RETURN_IF_ERROR(WriteCenterPicture(trainer.model(), dataset, stats, trainer.regular_classes(),
                                         (fs::path(out) / "fig6_centers.png").string()));
  FTL_RETURN_IF_ERROR(WriteTransferPicture(trainer.model(), dataset, stats, trainer.regular_classes(),
                                           (fs::path(out) / "fig7_transfer.png").string()));
  FTL_RETURN_IF_ERROR(WriteInterpolationPicture(trainer.model(), dataset, stats, trainer.regular_classes(),
                                                (fs::path(out) / "fig8_interpolation.png").string()));
  std::string command = absl::StrCat("/usr/bin/python3 '", absl::GetFlag(FLAGS_plot_script), "' --out '", out,
                                     "' --center_error '", errors_csv, "'");
  const fs::path norms = fs::path(out) / "weight_norms.csv";
  if (fs::exists(norms)) absl::StrAppend(&command, " --weight_norms '", norms.string(), "'");
  if (std::system(command.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("plots failed: ", command,
                                            " (needs python3-matplotlib; see scripts/setup.sh)"));
  }
  std::cout << "eval: figures and pictures in " << out << "\n";
  return absl::OkStatus();
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

}  // namespace

int RunPackCommand() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (absl::GetFlag(FLAGS_data).empty() || out.size() < 5 || out.substr(out.size() - 4) != ".rec") {
    return Fail("usage: ftl pack --data IMAGE_FOLDER --out NAME.rec   (writes NAME.rec and NAME.idx)", 2);
  }
  const std::string idx = RecordIoIndexPath(out);
  absl::StatusOr<int64_t> written = PackImageFolder(absl::GetFlag(FLAGS_data), out, idx);
  if (!written.ok()) return Fail(std::string(written.status().message()));
  std::cout << "pack: " << *written << " images in " << out << " and " << idx << " (InsightFace RecordIO layout)\n";
  return 0;
}

int RunSplitCommand() {
  if (absl::GetFlag(FLAGS_data).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return Fail("usage: ftl split --data DIR [--labels IDX] --out DIR --regular K --ur_images k --holdout n", 2);
  }
  absl::StatusOr<SplitOptions> options = SplitOptionsFromFlags();
  if (!options.ok()) return Fail(std::string(options.status().message()), 2);
  absl::StatusOr<SourceListing> listing = ListSource(SourceFromFlags());
  if (!listing.ok()) return Fail(std::string(listing.status().message()));
  absl::StatusOr<DataSplit> split = MakeSplit(*listing, *options);
  if (!split.ok()) return Fail(std::string(split.status().message()), 2);
  if (absl::Status s = WriteSplit(*split, absl::GetFlag(FLAGS_out)); !s.ok()) return Fail(std::string(s.message()));
  PrintSplit(*split);
  std::cout << "split: manifests in " << absl::GetFlag(FLAGS_out)
            << " (train.txt, fit.txt, validation.txt, holdout.txt, regular.txt, identities.csv)\n";
  return 0;
}

int RunPairsCommand() {
  if (absl::GetFlag(FLAGS_data).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return Fail("usage: ftl pairs --data DIR [--labels IDX] [--manifest FILE] --out pairs.txt", 2);
  }
  absl::StatusOr<SourceListing> listing = ListSource(SourceFromFlags());
  if (!listing.ok()) return Fail(std::string(listing.status().message()));
  std::vector<std::string> eligible;
  if (!absl::GetFlag(FLAGS_manifest).empty()) {
    absl::StatusOr<std::vector<std::string>> m = ReadManifest(absl::GetFlag(FLAGS_manifest));
    if (!m.ok()) return Fail(std::string(m.status().message()));
    eligible = *std::move(m);
  }
  PairOptions options;
  options.folds = absl::GetFlag(FLAGS_folds);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.per_fold = absl::GetFlag(FLAGS_per_fold);
  if (options.per_fold == 0) {
    options.per_fold = DefaultPerFold(eligible.empty() ? listing->sample_names.size() : eligible.size(), options.folds);
  }
  absl::StatusOr<GeneratedPairs> pairs = GeneratePairs(*listing, eligible, options);
  if (!pairs.ok()) return Fail(std::string(pairs.status().message()), 2);
  if (absl::Status s = WritePairsFile(absl::GetFlag(FLAGS_out), pairs->pairs, options.folds, options.per_fold);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  std::cout << absl::StrFormat("pairs: %d folds x (%d same + %d different), folds disjoint by %s, in %s\n",
                               options.folds, options.per_fold, options.per_fold,
                               pairs->identity_disjoint ? "identity" : "image", absl::GetFlag(FLAGS_out));
  return 0;
}

int RunEvalCommand() {
  const std::string config_path = absl::GetFlag(FLAGS_config);
  const std::string out = absl::GetFlag(FLAGS_out);
  if (config_path.empty() || absl::GetFlag(FLAGS_checkpoint).empty() || out.empty()) {
    return Fail("usage: ftl eval --config JOB.json --checkpoint FILE|DIR --out DIR", 2);
  }
  absl::StatusOr<JobConfig> config = LoadJobConfigFile(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()), 2);
  config->runtime.output_dir = out;
  std::error_code ec;
  fs::create_directories(out, ec);
  at::set_num_threads(Cores());
  absl::StatusOr<std::string> checkpoint = NewestReadableCheckpoint(absl::GetFlag(FLAGS_checkpoint));
  if (!checkpoint.ok()) return Fail(std::string(checkpoint.status().message()));
  std::cout << "eval: loading " << config->data.path << "\n";
  absl::StatusOr<Dataset> dataset = LoadDataset(config->data, config->model, config->training.seed);
  if (!dataset.ok()) return Fail(std::string(dataset.status().message()));
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  Trainer trainer(*config, *dataset, *comm);
  absl::StatusOr<int64_t> position = trainer.LoadCheckpoint(*checkpoint);
  if (!position.ok()) return Fail(std::string(position.status().message()));
  std::cout << "eval: " << *checkpoint << " (schedule position " << *position << ")\n";
  const v1::PhaseReport report = trainer.Evaluate();
  std::map<std::string, double> metrics(report.metrics().begin(), report.metrics().end());
  for (const auto& [name, value] : metrics) std::cout << absl::StrFormat("  %-28s %.4f\n", name, value);
  if (absl::Status s = WriteText((fs::path(out) / "eval.json").string(), ToJson(report)); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (absl::Status s = AnalyzeModel(trainer, *dataset, out); !s.ok()) return Fail(std::string(s.message()));
  return 0;
}

// ---------------------------------------------------------------------------------------------
// ftl experiment

namespace {

struct Budget {
  int64_t pretrain = 0;
  int rounds = 0;
  int64_t stage = 0;
};

struct Candidate {
  std::string label;  // what was varied, e.g. "stage_lr=2e-05"
  v1::JobSpec spec;
};

struct RunResult {
  std::map<std::string, double> metrics;  // the last evaluate phase's
  double seconds = 0.0;
};

std::string FindWorker() {
  if (!absl::GetFlag(FLAGS_worker_binary).empty()) return absl::GetFlag(FLAGS_worker_binary);
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  for (const fs::path& candidate : {self.parent_path() / "ftl_worker", self.parent_path().parent_path() / "worker" / "ftl_worker"}) {
    if (fs::exists(candidate)) return candidate.string();
  }
  return "ftl_worker";  // from PATH
}

std::string Quote(const std::string& s) { return absl::StrCat("'", s, "'"); }

// Runs one training job under mpirun; the worker's output goes to log.txt, and its progress
// lines are echoed with a prefix.
absl::StatusOr<RunResult> RunJob(const std::string& name, const v1::JobSpec& spec, const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  FTL_RETURN_IF_ERROR(WriteText(config_path, ToJson(spec)));
  const int ranks = absl::GetFlag(FLAGS_ranks);
  const int threads = absl::GetFlag(FLAGS_threads) > 0 ? absl::GetFlag(FLAGS_threads) : std::max(1, Cores() / ranks);
  std::string command = absl::StrCat(Quote(absl::GetFlag(FLAGS_mpirun)), " -np ", ranks,
                                     " --oversubscribe --bind-to none ");
  if (geteuid() == 0) absl::StrAppend(&command, "--allow-run-as-root ");
  absl::StrAppend(&command, Quote(FindWorker()), " --config ", Quote(config_path), " --threads ", threads, " 2>&1");
  const std::string log_path = (fs::path(dir) / "log.txt").string();
  std::ofstream log(log_path);
  log << "$ " << command << "\n";
  const auto start = std::chrono::steady_clock::now();
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError(absl::StrCat("cannot start: ", command));
  char line[4096];
  while (std::fgets(line, sizeof(line), pipe) != nullptr) {
    log << line;
    log.flush();
    std::cout << "  [" << name << "] " << line << std::flush;
  }
  const int status = pclose(pipe);
  RunResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (status != 0) {
    return absl::InternalError(absl::StrCat(name, ": the worker failed (exit status ", WEXITSTATUS(status),
                                            "); see ", log_path));
  }
  std::ifstream in(fs::path(spec.runtime().output_dir()) / "summary.json");
  std::stringstream text;
  text << in.rdbuf();
  v1::RunSummary summary;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(text.str(), &summary, options).ok()) {
    return absl::DataLossError(absl::StrCat(name, ": cannot read summary.json in ", spec.runtime().output_dir()));
  }
  for (const v1::PhaseReport& phase : summary.phases()) {
    if (phase.phase() == "evaluate") result.metrics = {phase.metrics().begin(), phase.metrics().end()};
  }
  if (result.metrics.empty()) return absl::DataLossError(absl::StrCat(name, ": no evaluate phase in summary.json"));
  return result;
}

double Metric(const RunResult& r, const std::string& name) {
  auto it = r.metrics.find(name);
  return it == r.metrics.end() ? std::nan("") : it->second;
}

// The validation score a tuning run is chosen by: mean rank-1 on f over regular and UR probes.
double ValidationScore(const RunResult& r) {
  const double reg = Metric(r, "holdout_rank1_regular_f"), ur = Metric(r, "holdout_rank1_ur_f");
  if (std::isnan(reg)) return ur;
  if (std::isnan(ur)) return reg;
  return (reg + ur) / 2;
}

std::vector<Candidate> CandidatesFor(const std::string& variant, const v1::JobSpec& spec, bool tune) {
  std::vector<Candidate> out;
  auto add = [&](const std::string& label, auto change) {
    Candidate c{label, spec};
    change(&c.spec);
    out.push_back(c);
  };
  const double lr = spec.training().pretrain_lr(), stage_lr = spec.training().stage1_lr();
  if (variant == "softmax") {
    add(absl::StrCat("pretrain_lr=", lr), [](v1::JobSpec*) {});
    if (tune) add(absl::StrCat("pretrain_lr=", lr / 3), [&](v1::JobSpec* s) { s->mutable_training()->set_pretrain_lr(lr / 3); });
  } else if (variant == "softmax_ml2") {
    const double reg = spec.loss().has_alpha_reg() ? spec.loss().alpha_reg() : 0.25;
    add(absl::StrCat("alpha_reg=", reg), [](v1::JobSpec*) {});
    const double other = reg == 0.05 ? 0.25 : 0.05;
    if (tune) add(absl::StrCat("alpha_reg=", other), [&](v1::JobSpec* s) { s->mutable_loss()->set_alpha_reg(other); });
  } else {
    add(absl::StrCat("stage_lr=", stage_lr), [](v1::JobSpec*) {});
    if (tune) {
      add(absl::StrCat("stage_lr=", stage_lr / 5), [&](v1::JobSpec* s) {
        s->mutable_training()->set_stage1_lr(stage_lr / 5);
        s->mutable_training()->set_stage2_lr(stage_lr / 5);
      });
    }
  }
  return out;
}

std::string Cell(double v) { return std::isnan(v) ? "-" : absl::StrFormat("%.4f", v); }

}  // namespace

int RunExperimentCommand() {
  const std::string out = absl::GetFlag(FLAGS_out);
  if (absl::GetFlag(FLAGS_data).empty() || out.empty()) {
    return Fail("usage: ftl experiment --data DIR --out DIR --regular K --ur_images k --holdout n", 2);
  }
  Budget budget;
  {
    const std::vector<std::string> parts = absl::StrSplit(absl::GetFlag(FLAGS_budget), ',');
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &budget.pretrain) ||
        !absl::SimpleAtoi(parts[1], &budget.rounds) || !absl::SimpleAtoi(parts[2], &budget.stage) ||
        budget.pretrain < 1 || budget.rounds < 0 || budget.stage < 1) {
      return Fail("--budget: expected PRETRAIN,ROUNDS,STAGE iterations, e.g. 300,2,100", 2);
    }
  }
  const std::vector<std::string> variants = absl::StrSplit(absl::GetFlag(FLAGS_variants), ',', absl::SkipEmpty());
  for (const std::string& v : variants) {
    if (v != "softmax" && v != "softmax_ml2" && v != "ftl") {
      return Fail(absl::StrCat("--variants: unknown variant '", v, "' (softmax, softmax_ml2, ftl)"), 2);
    }
  }
  if (variants.empty()) return Fail("--variants: none given", 2);
  const auto start = std::chrono::steady_clock::now();

  // 1. The split (manifests) and, unless given, verification pairs from the hold-out images.
  absl::StatusOr<SplitOptions> split_options = SplitOptionsFromFlags();
  if (!split_options.ok()) return Fail(std::string(split_options.status().message()), 2);
  if (split_options->holdout < 1) return Fail("--holdout: the experiment needs hold-out probes (n >= 1)", 2);
  const DataConfig source = SourceFromFlags();
  absl::StatusOr<SourceListing> listing = ListSource(source);
  if (!listing.ok()) return Fail(std::string(listing.status().message()));
  absl::StatusOr<DataSplit> split = MakeSplit(*listing, *split_options);
  if (!split.ok()) return Fail(std::string(split.status().message()), 2);
  const fs::path split_dir = fs::path(out) / "split";
  if (absl::Status s = WriteSplit(*split, split_dir.string()); !s.ok()) return Fail(std::string(s.message()));
  PrintSplit(*split);
  const bool tune = absl::GetFlag(FLAGS_tune) && !split->validation.empty();
  if (absl::GetFlag(FLAGS_tune) && !tune) std::cout << "experiment: no validation images, so no tuning\n";

  std::string pairs_path = absl::GetFlag(FLAGS_pairs), pairs_images = absl::GetFlag(FLAGS_pairs_images);
  if (pairs_path.empty()) {
    PairOptions pair_options;
    pair_options.folds = absl::GetFlag(FLAGS_folds);
    pair_options.seed = absl::GetFlag(FLAGS_seed);
    pair_options.per_fold = absl::GetFlag(FLAGS_per_fold) > 0 ? absl::GetFlag(FLAGS_per_fold)
                                                               : DefaultPerFold(split->holdout.size(), pair_options.folds);
    absl::StatusOr<GeneratedPairs> pairs = GeneratePairs(*listing, split->holdout, pair_options);
    if (pairs.ok()) {
      pairs_path = (split_dir / "pairs.txt").string();
      if (absl::Status s = WritePairsFile(pairs_path, pairs->pairs, pair_options.folds, pair_options.per_fold); !s.ok()) {
        return Fail(std::string(s.message()));
      }
      std::cout << absl::StrFormat("experiment: %d verification pairs from the hold-out images (folds disjoint by %s)\n",
                                   pairs->pairs.size(), pairs->identity_disjoint ? "identity" : "image");
    } else {
      std::cout << "experiment: no verification pairs: " << pairs.status().message() << "\n";
    }
  } else if (pairs_images.empty() && source.format == "image_folder") {
    pairs_images = source.path;
  }

  // 2. The base job every run starts from.
  v1::JobSpec base;
  if (!absl::GetFlag(FLAGS_base_config).empty()) {
    std::ifstream in(absl::GetFlag(FLAGS_base_config));
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<v1::JobSpec> parsed = JobSpecFromJson(text.str());
    if (!in || !parsed.ok()) {
      return Fail(absl::StrCat("--base_config: ", in ? parsed.status().message() : "cannot read"), 2);
    }
    base = *parsed;
  }
  base.mutable_model()->set_preset(absl::GetFlag(FLAGS_preset));
  if (absl::GetFlag(FLAGS_input_size) > 0) base.mutable_model()->set_input_size(absl::GetFlag(FLAGS_input_size));
  if (absl::GetFlag(FLAGS_channels) > 0) base.mutable_model()->set_channels(absl::GetFlag(FLAGS_channels));
  v1::DataSpec* data = base.mutable_data();
  data->set_format(source.format);
  data->set_path(fs::absolute(source.path).string());
  if (!source.labels_path.empty()) data->set_labels_path(fs::absolute(source.labels_path).string());
  data->set_regular_identities(fs::absolute(split_dir / "regular.txt").string());
  data->set_center_crop(absl::GetFlag(FLAGS_center_crop));
  v1::TrainingSpec* training = base.mutable_training();
  training->set_batch_size(absl::GetFlag(FLAGS_batch_size));
  training->set_seed(absl::GetFlag(FLAGS_seed));
  if (!training->has_pretrain_lr()) training->set_pretrain_lr(absl::GetFlag(FLAGS_pretrain_lr));
  if (!training->has_stage1_lr()) training->set_stage1_lr(absl::GetFlag(FLAGS_stage_lr));
  if (!training->has_stage2_lr()) training->set_stage2_lr(absl::GetFlag(FLAGS_stage_lr));
  training->set_evaluate_every_rounds(0);  // evaluate after the last round (and after pre-training)
  base.mutable_runtime()->set_progress_seconds(30);
  base.mutable_runtime()->set_keep_checkpoints(1);

  auto spec_for = [&](const v1::JobSpec& from, const std::string& variant, bool final_run, const std::string& dir) {
    v1::JobSpec spec = from;
    spec.set_name(absl::StrCat("experiment-", variant, final_run ? "" : "-tune"));
    spec.mutable_training()->set_method(variant);
    if (variant == "ftl") {
      spec.mutable_training()->set_pretrain_iterations(budget.pretrain);
      spec.mutable_training()->set_rounds(budget.rounds);
      spec.mutable_training()->set_stage_iterations(budget.stage);
    } else {
      spec.mutable_training()->set_pretrain_iterations(budget.pretrain + budget.rounds * budget.stage);
      spec.mutable_training()->set_rounds(0);
    }
    spec.mutable_data()->set_manifest(fs::absolute(split_dir / (final_run ? "train.txt" : "fit.txt")).string());
    spec.mutable_evaluation()->set_holdout_manifest(
        fs::absolute(split_dir / (final_run ? "holdout.txt" : "validation.txt")).string());
    if (final_run && !pairs_path.empty()) {
      spec.mutable_evaluation()->set_pairs_path(fs::absolute(pairs_path).string());
      if (!pairs_images.empty()) spec.mutable_evaluation()->set_pairs_images(fs::absolute(pairs_images).string());
    } else {
      spec.mutable_evaluation()->clear_pairs_path();
      spec.mutable_evaluation()->clear_pairs_images();
    }
    spec.mutable_runtime()->set_output_dir(fs::absolute(fs::path(dir) / "output").string());
    return spec;
  };
  // Catch a bad combination before hours of training.
  if (absl::StatusOr<JobConfig> check = JobConfigFromSpec(spec_for(base, variants.front(), true, out)); !check.ok()) {
    return Fail(std::string(check.status().message()), 2);
  }

  // 3. Tuning on the validation split, then the final run of each variant.
  std::ofstream tuning_csv(fs::path(out) / "tuning.csv");
  tuning_csv << "variant,candidate,val_reg_rank1_f,val_ur_rank1_f,score,seconds\n";
  struct Final {
    std::string variant, chosen;
    RunResult result;
    v1::JobSpec spec;
  };
  std::vector<Final> finals;
  for (const std::string& variant : variants) {
    std::vector<Candidate> candidates = CandidatesFor(variant, base, tune);
    size_t best = 0;
    if (candidates.size() > 1) {
      double best_score = -1;
      for (size_t c = 0; c < candidates.size(); ++c) {
        const std::string dir = (fs::path(out) / "tune" / absl::StrCat(variant, "-", c)).string();
        std::cout << "experiment: tuning " << variant << " (" << candidates[c].label << ") on the validation split\n";
        absl::StatusOr<RunResult> r = RunJob(variant, spec_for(candidates[c].spec, variant, false, dir), dir);
        if (!r.ok()) return Fail(std::string(r.status().message()));
        const double score = ValidationScore(*r);
        tuning_csv << variant << "," << candidates[c].label << "," << Metric(*r, "holdout_rank1_regular_f") << ","
                   << Metric(*r, "holdout_rank1_ur_f") << "," << score << "," << r->seconds << "\n";
        tuning_csv.flush();
        std::cout << absl::StrFormat("experiment: %s %s: validation score %.4f (%.0f s)\n", variant,
                                     candidates[c].label, score, r->seconds);
        if (score > best_score) {
          best_score = score;
          best = c;
        }
      }
    }
    const std::string dir = (fs::path(out) / "runs" / variant).string();
    std::cout << "experiment: final " << variant << " (" << candidates[best].label << ")\n";
    const v1::JobSpec spec = spec_for(candidates[best].spec, variant, true, dir);
    absl::StatusOr<RunResult> r = RunJob(variant, spec, dir);
    if (!r.ok()) return Fail(std::string(r.status().message()));
    finals.push_back({variant, candidates[best].label, *r, spec});
  }

  // 4. Figures and pictures of each final model.
  for (const Final& f : finals) {
    const std::string dir = (fs::path(out) / "runs" / f.variant / "analysis").string();
    std::error_code ec;
    fs::create_directories(dir, ec);
    v1::JobSpec spec = f.spec;
    spec.mutable_runtime()->set_output_dir(dir);  // weight_norms.csv lands beside the pictures
    spec.mutable_evaluation()->Clear();
    absl::StatusOr<JobConfig> config = JobConfigFromSpec(spec);
    absl::StatusOr<Dataset> dataset = config.ok() ? LoadDataset(config->data, config->model, config->training.seed)
                                                  : absl::StatusOr<Dataset>(config.status());
    absl::StatusOr<std::string> checkpoint = NewestReadableCheckpoint(f.spec.runtime().output_dir());
    if (!dataset.ok() || !checkpoint.ok()) {
      std::cout << "experiment: no pictures for " << f.variant << ": "
                << (dataset.ok() ? checkpoint.status() : dataset.status()).message() << "\n";
      continue;
    }
    at::set_num_threads(Cores());
    std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
    Trainer trainer(*config, *dataset, *comm);
    absl::StatusOr<int64_t> loaded = trainer.LoadCheckpoint(*checkpoint);
    if (loaded.ok()) {
      trainer.Evaluate();  // writes weight_norms.csv
      std::cout << "experiment: figures of " << f.variant << "\n";
      if (absl::Status s = AnalyzeModel(trainer, *dataset, dir); !s.ok()) {
        std::cout << "experiment: pictures of " << f.variant << ": " << s.message() << "\n";
      }
    } else {
      std::cout << "experiment: no pictures for " << f.variant << ": " << loaded.status().message() << "\n";
    }
  }

  // 5. The table.
  std::ostringstream csv, md;
  csv << "variant,reg_rank1_f,ur_rank1_f,reg_rank1_g,ur_rank1_g,verif_acc,verif_acc_g,verif_tar_far1e2,"
         "ur_coverage_p99,ur_norm_ratio,chosen,train_seconds\n";
  md << "| variant | reg rank-1 f | UR rank-1 f | reg rank-1 g | UR rank-1 g | verif acc f | verif acc g | UR coverage@P.99 | UR/reg norm | chosen |\n"
     << "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const Final& f : finals) {
    const RunResult& r = f.result;
    csv << f.variant << "," << Metric(r, "holdout_rank1_regular_f") << "," << Metric(r, "holdout_rank1_ur_f") << ","
        << Metric(r, "holdout_rank1_regular_g") << "," << Metric(r, "holdout_rank1_ur_g") << ","
        << Metric(r, "verif_acc_f") << "," << Metric(r, "verif_acc_g") << "," << Metric(r, "verif_tar_far1e2_f") << ","
        << Metric(r, "holdout_coverage_p99_ur") << "," << Metric(r, "ur_regular_norm_ratio") << "," << f.chosen << ","
        << r.seconds << "\n";
    md << "| " << f.variant << " | " << Cell(Metric(r, "holdout_rank1_regular_f")) << " | "
       << Cell(Metric(r, "holdout_rank1_ur_f")) << " | " << Cell(Metric(r, "holdout_rank1_regular_g")) << " | "
       << Cell(Metric(r, "holdout_rank1_ur_g")) << " | " << Cell(Metric(r, "verif_acc_f")) << " | "
       << Cell(Metric(r, "verif_acc_g")) << " | " << Cell(Metric(r, "holdout_coverage_p99_ur")) << " | "
       << Cell(Metric(r, "ur_regular_norm_ratio")) << " | " << f.chosen << " |\n";
  }
  const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 60;
  md << "\n" << split->train.size() << " training images, " << split->holdout.size() << " hold-out probes; budget "
     << absl::GetFlag(FLAGS_budget) << " (pretrain,rounds,stage); " << absl::GetFlag(FLAGS_ranks)
     << " ranks; " << absl::StrFormat("%.1f", minutes) << " min in all.\n";
  if (absl::Status s = WriteText((fs::path(out) / "results.csv").string(), csv.str()); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (absl::Status s = WriteText((fs::path(out) / "results.md").string(), md.str()); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  std::cout << "\n" << md.str() << "\nexperiment: results.csv, results.md, tuning.csv in " << out << "\n";
  return 0;
}

}  // namespace ftl
