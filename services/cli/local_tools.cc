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
#include "common/util/file.h"
#include "common/comm/communicator.h"
#include "common/config/job_spec_conversion.h"
#include "common/data/dataset.h"
#include "common/data/recordio.h"
#include "common/protocol/protocol.h"
#include "common/train/trainer.h"
#include "common/util/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "services/cli/experiment.h"
#include "services/cli/tool_support.h"
#include "common/train/job_runner.h"
#include "services/wire/wire.h"

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
ABSL_FLAG(uint64_t, seed, 1,
          "split/pairs/experiment: seed of the split and pairs (experiment: also the first training "
          "seed unless --seeds is given)");
ABSL_FLAG(std::string, train_list, "",
          "split/experiment: only these identities (LFW people file such as peopleDevTrain.txt, or "
          "one name per line)");
ABSL_FLAG(std::string, manifest, "", "pairs: only images listed in this manifest (e.g. holdout.txt)");
ABSL_FLAG(int, folds, 10, "pairs/experiment: folds of generated pairs");
ABSL_FLAG(int, per_fold, 0, "pairs/experiment: same pairs per fold (as many different); 0 = up to 300 as the images allow");
ABSL_FLAG(std::string, checkpoint, "", "eval: a checkpoint file, or a folder (its newest readable one)");
ABSL_FLAG(std::string, config, "", "eval: the job config the checkpoint was trained with");
ABSL_FLAG(std::string, plot_script, FTL_PLOT_SCRIPT, "eval/experiment: the matplotlib script for PNG plots");
ABSL_FLAG(std::string, variants,
          "softmax,softmax_ml2,softmax_ml2_continued,softmax_ml2_cb,softmax_ml2_la,ftl_no_transfer,ftl",
          "experiment: variants to train (softmax_ml2 always trains when a variant continues from it)");
ABSL_FLAG(std::string, seeds, "",
          "experiment: training seeds of the final runs, e.g. 1,2,3 (default: --seed, --seed+1, --seed+2); "
          "tuning uses the first");
ABSL_FLAG(std::string, grid, "full",
          "experiment: tuning grid per variant, the same size for every variant: full (6 candidates) or "
          "quick (2)");
ABSL_FLAG(int, jobs, 1, "experiment: trainings run side by side (each with --ranks ranks)");
ABSL_FLAG(std::string, budget, "300,2,100",
          "experiment: PRETRAIN,ROUNDS,STAGE iterations. softmax and softmax_ml2 train PRETRAIN "
          "iterations; FTL starts from softmax_ml2's final model and runs ROUNDS x (STAGE stage-1 + "
          "STAGE stage-2); the other continued baselines train 2 x ROUNDS x STAGE iterations from "
          "that model");
ABSL_FLAG(std::string, preset, "small", "experiment: model preset");
ABSL_FLAG(int, input_size, 0, "experiment: input side override (0 = the preset's)");
ABSL_FLAG(int, channels, 0, "experiment: 1 grey / 3 colour override (0 = the preset's)");
ABSL_FLAG(double, center_crop, 1.0, "experiment: centre-crop fraction before resizing (LFW: 0.5)");
ABSL_FLAG(int, batch_size, 32, "experiment: images per rank per step");
ABSL_FLAG(double, pretrain_lr, 1e-3,
          "experiment: Adam learning rate (grid centre) of softmax and softmax_ml2");
ABSL_FLAG(double, stage_lr, 1e-4,
          "experiment: learning rate (grid centre) of FTL's stages and of the variants continued from "
          "softmax_ml2");
ABSL_FLAG(bool, tune, true,
          "experiment: choose each variant's hyper-parameters (learning rate; alpha_reg for "
          "softmax_ml2, tau for softmax_ml2_la) from its --grid on the validation split with the "
          "first seed before the final runs; docs/experiments.md lists the grids");
ABSL_FLAG(std::string, pairs, "", "experiment: an LFW-format pairs file (default: generated from the hold-out images)");
ABSL_FLAG(std::string, pairs_images, "",
          "experiment: root of the images the --pairs file names (LFW layout); default --data");
ABSL_FLAG(int, ranks, 2, "experiment: MPI ranks per run");
ABSL_FLAG(int, threads, 0, "experiment: intra-op threads per rank (0 = cores / (ranks x jobs))");
ABSL_FLAG(std::string, worker_binary, "", "experiment: ftl_worker (default: next to ftl, or in the build tree)");
ABSL_FLAG(std::string, mpirun, "mpirun", "experiment: the MPI launcher");
ABSL_FLAG(std::string, base_config, "",
          "experiment: a JobSpec JSON whose other fields (loss weights, PCA, ...) every run starts from");

namespace ftl {
namespace {

namespace fs = std::filesystem;

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
  std::cout << "eval: loading " << config->data.path << "\n";
  absl::StatusOr<Dataset> dataset = LoadDataset(config->data, config->model, config->training.seed);
  if (!dataset.ok()) return Fail(std::string(dataset.status().message()));
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  Trainer trainer(*config, *dataset, *comm);
  int64_t position = 0;
  absl::StatusOr<std::string> checkpoint =
      LoadNewestCheckpoint(absl::GetFlag(FLAGS_checkpoint), [&](const std::string& file) {
        absl::StatusOr<int64_t> loaded = trainer.LoadCheckpoint(file);
        if (loaded.ok()) position = *loaded;
        return loaded.status();
      });
  if (!checkpoint.ok()) return Fail(std::string(checkpoint.status().message()));
  std::cout << "eval: " << *checkpoint << " (schedule position " << position << ")\n";
  Evaluator evaluator(*config, *dataset, *comm);
  const PhaseReport report = RunEvaluatePhase(trainer, evaluator);
  for (const auto& [name, value] : report.metrics) std::cout << absl::StrFormat("  %-28s %.4f\n", name, value);
  if (absl::Status s = WriteFileAtomically((fs::path(out) / "eval.json").string(),
                                           ToJson(PhaseReportToProto(report), JsonLayout::kIndented,
                                                  JsonDefaults::kOmit));
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (absl::Status s = AnalyzeModel(trainer, *dataset, out, absl::GetFlag(FLAGS_seed), absl::GetFlag(FLAGS_plot_script));
      !s.ok()) return Fail(std::string(s.message()));
  return 0;
}

int RunExperimentCommand() {
  ExperimentOptions o;
  if (absl::GetFlag(FLAGS_data).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return Fail("usage: ftl experiment --data DIR --out DIR --regular K --ur_images k --holdout n [--seeds 1,2,3]", 2);
  }
  o.source = SourceFromFlags();
  absl::StatusOr<SplitOptions> split = SplitOptionsFromFlags();
  if (!split.ok()) return Fail(std::string(split.status().message()), 2);
  o.split = *split;
  o.out = absl::GetFlag(FLAGS_out);
  o.variants = absl::StrSplit(absl::GetFlag(FLAGS_variants), ',', absl::SkipEmpty());
  absl::StatusOr<ExperimentBudget> budget = ParseBudget(absl::GetFlag(FLAGS_budget));
  if (!budget.ok()) return Fail(std::string(budget.status().message()), 2);
  o.budget = *budget;
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  absl::StatusOr<std::vector<uint64_t>> seeds =
      ParseSeeds(absl::GetFlag(FLAGS_seeds).empty() ? absl::StrCat(seed, ",", seed + 1, ",", seed + 2)
                                                     : absl::GetFlag(FLAGS_seeds));
  if (!seeds.ok()) return Fail(std::string(seeds.status().message()), 2);
  o.seeds = *seeds;
  o.tune = absl::GetFlag(FLAGS_tune);
  o.grid = absl::GetFlag(FLAGS_grid);
  o.preset = absl::GetFlag(FLAGS_preset);
  o.input_size = absl::GetFlag(FLAGS_input_size);
  o.channels = absl::GetFlag(FLAGS_channels);
  o.center_crop = absl::GetFlag(FLAGS_center_crop);
  o.batch_size = absl::GetFlag(FLAGS_batch_size);
  o.pretrain_lr = absl::GetFlag(FLAGS_pretrain_lr);
  o.stage_lr = absl::GetFlag(FLAGS_stage_lr);
  o.pairs = absl::GetFlag(FLAGS_pairs);
  o.pairs_images = absl::GetFlag(FLAGS_pairs_images);
  o.folds = absl::GetFlag(FLAGS_folds);
  o.per_fold = absl::GetFlag(FLAGS_per_fold);
  o.ranks = absl::GetFlag(FLAGS_ranks);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.jobs = absl::GetFlag(FLAGS_jobs);
  o.worker_binary = absl::GetFlag(FLAGS_worker_binary);
  o.mpirun = absl::GetFlag(FLAGS_mpirun);
  o.base_config = absl::GetFlag(FLAGS_base_config);
  o.plot_script = absl::GetFlag(FLAGS_plot_script);
  return RunExperiment(o);
}

}  // namespace ftl
