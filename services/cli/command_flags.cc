#include "services/cli/command_flags.h"

#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/protocol/budget.h"
#include "common/util/flag_help.h"
#include "common/util/status_macros.h"

ABSL_FLAG(
    std::string, data, "",
    "split/pairs/experiment/pack/embed: an image folder (one sub-folder per identity), a RecordIO "
    "file (*.rec, its .idx beside it) or, with --labels, an IDX images file");
ABSL_FLAG(std::string, labels, "",
          "split/pairs/experiment/embed: the IDX labels file, or a RecordIO .idx elsewhere");
ABSL_FLAG(std::string, out, "",
          "split/experiment/eval/embed: output folder; pairs/pack/export/synth: output file");
ABSL_FLAG(int, regular, 0,
          "split/experiment: K identities stay regular (--roles says which), the others are UR; "
          "synth: the first K identities get --regular_images images");
ABSL_FLAG(std::string, roles, "auto",
          "split/experiment: which K stay regular: by_count (the K with most images, ties by "
          "name: the same people for every --seed), drawn (K drawn from --seed among the "
          "identities with enough images to play either role) or auto (drawn when --ur_images "
          "fakes the UR identities, by_count for a natural long tail, --ur_images 0)");
ABSL_FLAG(bool, ur_validation_beyond_budget, true,
          "split/experiment: take a UR identity's --validation images from its images beyond "
          "--ur_images where it has them, so that tuning trains it on as many images as the final "
          "runs (false: carved from its --ur_images, as before December 2026)");
ABSL_FLAG(int, ur_images, 0,
          "split/experiment: the other identities keep at most k training images (0 = all); "
          "synth: the other identities get 1 to k images (0 = 5)");
ABSL_FLAG(int64_t, identities, 0, "synth: identities to generate");
ABSL_FLAG(std::string, regular_images, "21-40",
          "synth: MIN-MAX images of each regular identity (uniform)");
ABSL_FLAG(int, size, 32, "synth: image side in pixels (square, grey PNG)");
ABSL_FLAG(int, holdout, 0, "split/experiment: hold out n probe images per identity");
ABSL_FLAG(int, min_train, 1,
          "split/experiment: hold out only where at least this many training images remain");
ABSL_FLAG(int, validation, 2,
          "split/experiment: images per identity carved from the training images to choose "
          "hyper-parameters on (never the hold-out probes)");
ABSL_FLAG(uint64_t, seed, 1,
          "split/pairs/experiment/synth: seed of the split, pairs or generated set (experiment: "
          "also the first training "
          "seed unless --seeds is given)");
ABSL_FLAG(std::string, train_list, "",
          "split/experiment: only these identities (LFW people file such as peopleDevTrain.txt, or "
          "one name per line)");
ABSL_FLAG(std::string, manifest, "",
          "pairs/embed: only images listed in this manifest (e.g. holdout.txt)");
ABSL_FLAG(int, folds, 10, "pairs/experiment: folds of generated pairs");
ABSL_FLAG(
    int, per_fold, 0,
    "pairs/experiment: same pairs per fold (as many different); 0 = up to 300 as the images allow");
ABSL_FLAG(std::string, features, "f",
          "export/embed/verify: the embedding: f = R(Enc(x)), the identity feature FTL's stage 1 "
          "reshapes "
          "(default), or g = Enc(x), the rich feature it transfers in");
ABSL_FLAG(std::string, format, "torchscript",
          "export: torchscript (a TorchScript module for torch.jit.load / torch::jit::load: code, "
          "which runs as it loads), onnx, or safetensors (weights only, nothing runs: for "
          "model.init_from, embed/verify --model, safetensors.torch.load_file)");
ABSL_FLAG(std::string, python, "/usr/bin/python3",
          "export --format onnx: a Python with torch (Debian's python3-torch)");
ABSL_FLAG(std::string, onnx_script, FTL_ONNX_SCRIPT, "export --format onnx: scripts/ftl_onnx.py");
ABSL_FLAG(std::string, model, "",
          "embed/verify: a file made by `ftl export`: safetensors (weights, nothing runs) or a "
          "TorchScript module (code that runs as it loads: only files you trust)");
ABSL_FLAG(bool, flip, false,
          "embed: add the mirror image's embedding (then re-normalise), as InsightFace's "
          "evaluation does");
ABSL_FLAG(std::vector<std::string>, bin, {},
          "verify: an InsightFace verification set (lfw.bin, cfp_fp.bin, ...); repeat the flag "
          "or give a comma list");
ABSL_FLAG(bool, verify_flip, true,
          "verify: add the mirror image's embedding, as InsightFace's verification.py does");
ABSL_FLAG(int, embed_batch, 256, "embed/verify: images per forward pass");
ABSL_FLAG(bool, cpu, false, "embed/verify: stay on the CPU even when CUDA is available");
ABSL_FLAG(
    std::string, checkpoint, "",
    "eval/export/embed/verify: a checkpoint file, or a job's folder (its newest readable one)");
ABSL_FLAG(std::string, config, "",
          "eval: the job config the checkpoint was trained with; export: optional, its "
          "data.center_crop is recorded in place of the one the checkpoint carries");
ABSL_FLAG(std::string, plot_script, FTL_PLOT_SCRIPT,
          "eval/experiment: the matplotlib script for PNG plots");
ABSL_FLAG(std::string, variants, "all",
          "experiment: variants to train, comma-separated, or all: softmax, softmax_ml2, "
          "softmax_ml2_continued, softmax_ml2_images, softmax_ml2_steps, softmax_ml2_cb, "
          "softmax_ml2_cbloss, softmax_ml2_la, ftl_no_transfer, ftl_second_ur, ftl_center, "
          "ftl_center_noise, ftl_random_basis, ftl (docs/experiments.md; softmax_ml2 always trains "
          "when a variant "
          "continues from it)");
ABSL_FLAG(std::string, seeds, "",
          "experiment: training seeds of the final runs, e.g. 1,2,3 (default: --seed, --seed+1, "
          "--seed+2); tuning uses --tuning_seed");
ABSL_FLAG(int, splits, 1,
          "experiment: run the whole experiment on this many splits (split seeds --seed, "
          "--seed+1, ...; each in OUT/split<seed>), then results_splits.md/.csv: every "
          "variant's mean over the split means and FTL's paired differences over splits and "
          "over runs");
ABSL_FLAG(uint64_t, tuning_seed, 0,
          "experiment: training seed of the tuning runs, not one of --seeds (0: the largest of "
          "--seeds + 1)");
ABSL_FLAG(std::string, grid, "full",
          "experiment: tuning per variant, the same rule for every variant: full (learning rate x "
          "{3, 1, 1/3} widened towards an edge choice, then alpha_reg / tau / cb_beta where the "
          "variant has them; docs/experiments.md) or quick (learning rate x {1, 1/3})");
ABSL_FLAG(int, jobs, 1, "experiment: trainings run side by side (each with --ranks ranks)");
// The auto rule's numbers come from its constants, so the help cannot drift from the code.
ABSL_FLAG(std::string, budget, "auto",
          absl::StrCat(
              "experiment: PRETRAIN,ROUNDS,STAGE iterations. softmax and softmax_ml2 train "
              "PRETRAIN iterations; FTL starts from softmax_ml2's final model and runs ROUNDS x "
              "(STAGE stage-1 + STAGE stage-2); the other continued baselines train 2 x ROUNDS x "
              "STAGE iterations from that model. auto: PRETRAIN = ",
              ftl::kAutoBudgetEpochs,
              " epochs of the training images at --batch_size x --ranks per step, within [",
              ftl::kAutoBudgetMinPretrain, ", ", ftl::kAutoBudgetMaxPretrain, "]; ROUNDS ",
              ftl::kAutoBudgetRounds, "; STAGE = PRETRAIN / ", ftl::kAutoBudgetStageDivisor));
ABSL_FLAG(std::string, preset, "small", "experiment: model preset (as --backbone)");
ABSL_FLAG(std::string, backbone, "",
          "experiment: model.backbone (small, paper, iresnet18, iresnet34, iresnet50, iresnet100, "
          "mobilefacenet); default --preset");
ABSL_FLAG(std::string, head, "softmax",
          "experiment: loss.head of every variant: softmax (with the m-L2 variants), cosface or "
          "arcface (no m-L2: the base is the head alone, and the continued baselines are named "
          "after it, e.g. arcface_cb)");
ABSL_FLAG(int, input_size, 0, "experiment: input side override (0 = the preset's)");
ABSL_FLAG(int, channels, 0, "experiment: 1 grey / 3 colour override (0 = the preset's)");
ABSL_FLAG(double, center_crop, 0,
          "experiment: centre-crop fraction before resizing (0 = 1, the whole image; LFW: 0.5); "
          "embed/verify: overrides the crop the model was trained with (0 = the model's)");
ABSL_FLAG(int, batch_size, 32, "experiment: images per rank per step");
ABSL_FLAG(double, pretrain_lr, 1e-3,
          "experiment: Adam learning rate (grid centre) of softmax and softmax_ml2");
ABSL_FLAG(
    double, stage_lr, 1e-4,
    "experiment: learning rate (grid centre) of FTL's stages and of the variants continued from "
    "softmax_ml2");
ABSL_FLAG(bool, tune, true,
          "experiment: choose each variant's hyper-parameters (learning rate; alpha_reg for "
          "softmax_ml2 and the continued variants, tau for softmax_ml2_la, beta for "
          "softmax_ml2_cbloss) by --grid on the "
          "validation split with --tuning_seed before the final runs; docs/experiments.md");
ABSL_FLAG(std::string, pairs, "",
          "experiment: an LFW-format pairs file (default: generated from the hold-out images)");
ABSL_FLAG(std::string, pairs_images, "",
          "experiment: root of the images the --pairs file names (LFW layout); default --data");
ABSL_FLAG(int, ranks, 2, "experiment: MPI ranks per run");
ABSL_FLAG(
    int, threads, 0,
    "embed/verify: intra-op threads (0 = the usable CPUs); experiment: per rank (0 = usable CPUs / "
    "(ranks x jobs))");
ABSL_FLAG(std::string, worker_binary, "",
          "experiment: ftl_worker (default: next to ftl, or in the build tree)");
ABSL_FLAG(std::string, mpirun, "mpirun", "experiment: the MPI launcher");
ABSL_FLAG(
    std::string, base_config, "",
    "experiment: a JobSpec JSON whose other fields (loss weights, PCA, ...) every run starts from");

namespace ftl {
namespace {

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

DataConfig SourceFromFlags() {
  DataConfig data;
  data.path = absl::GetFlag(FLAGS_data);
  data.labels_path = absl::GetFlag(FLAGS_labels);
  const std::string& path = data.path;
  if (path.size() > 4 && EndsWith(path, ".rec")) {
    data.format = "recordio";
  } else {
    data.format = data.labels_path.empty() ? "image_folder" : "idx";
  }
  return data;
}

}  // namespace

const std::vector<ToolCommand>& ToolCommands() {
  static const auto* commands = new std::vector<ToolCommand>{
      {"split",
       "  ftl split --data DIR --out DIR --regular K --ur_images k --holdout n [--validation v]\n"
       "        Table-1 split into manifests (train/fit/validation/holdout.txt, regular.txt)",
       {"data", "labels", "out", "regular", "ur_images", "holdout", "validation", "min_train",
        "roles", "ur_validation_beyond_budget", "train_list", "seed"}},
      {"pairs",
       "  ftl pairs --data DIR [--manifest holdout.txt] --out pairs.txt [--folds 10 --per_fold N]\n"
       "        balanced same/different pairs in disjoint folds, LFW pairs.txt format",
       {"data", "labels", "manifest", "out", "folds", "per_fold", "seed"}},
      {"eval",
       "  ftl eval --config JOB.json --checkpoint FILE|DIR --out DIR\n"
       "        metrics of a checkpoint, Fig. 1b/4a plots, Fig. 6/7/8 pictures",
       {"config", "checkpoint", "out", "seed", "plot_script"}},
      {"experiment",
       "  ftl experiment --data DIR --out DIR --regular K --ur_images k --holdout n\n"
       "        [--seeds 1,2,3] [--variants ...] [--budget auto|P,R,S] [--grid full|quick]\n"
       "        [--jobs N] [--train_list F --pairs F] [--backbone iresnet18] [--head arcface]\n"
       "        softmax, softmax + m-L2, and FTL with its ablation and long-tail baselines\n"
       "        started from that softmax + m-L2 model, each tuned on validation and trained\n"
       "        with every seed; prints the table (mean +- s.e., FTL's paired differences) and\n"
       "        writes results.csv/results_seeds.csv/results.md. --data with --labels reads IDX\n"
       "        (Fashion-MNIST), --data NAME.rec reads RecordIO (NAME.idx beside it). With\n"
       "        --head arcface (cosface) the base is that head alone: arcface vs FTL.",
       {"data",          "labels",      "out",         "regular",     "ur_images",
        "holdout",       "validation",  "min_train",   "roles",       "ur_validation_beyond_budget",
        "train_list",    "seed",        "seeds",       "tuning_seed", "splits",
        "variants",      "budget",      "grid",        "tune",        "preset",
        "backbone",      "head",        "input_size",  "channels",    "center_crop",
        "batch_size",    "pretrain_lr", "stage_lr",    "pairs",       "pairs_images",
        "folds",         "per_fold",    "ranks",       "threads",     "jobs",
        "worker_binary", "mpirun",      "base_config", "plot_script"}},
      {"pack",
       "  ftl pack --data DIR --out NAME.rec\n"
       "        an image folder as InsightFace RecordIO (NAME.rec + NAME.idx)",
       {"data", "out"}},
      {"synth",
       "  ftl synth --out NAME.rec --identities N --regular K [--regular_images 21-40]\n"
       "        [--ur_images 5] [--size 32] [--seed 1]\n"
       "        a generated long-tailed identity set as InsightFace RecordIO, for scale runs:\n"
       "        K identities with MIN-MAX images, the others 1 to --ur_images (seeded)",
       {"out", "identities", "regular", "regular_images", "ur_images", "size", "seed"}},
      {"export",
       "  ftl export --checkpoint FILE|DIR --out encoder.pt [--features f|g] [--format onnx]\n"
       "        the encoder as TorchScript (torch.jit.load), ONNX or safetensors: uint8 images\n"
       "        in, L2-normalised embeddings out (docs/models.md)",
       {"checkpoint", "out", "features", "format", "config", "python", "onnx_script"}},
      {"embed",
       "  ftl embed --model encoder.safetensors | --checkpoint DIR --data DIR|FILE.rec --out DIR\n"
       "        [--flip] embeddings.npy (float32 N x D) and names.txt, streamed; unreadable\n"
       "        images in skipped.txt",
       {"model", "checkpoint", "features", "data", "labels", "manifest", "out", "flip",
        "center_crop", "embed_batch", "threads", "cpu"}},
      {"verify",
       "  ftl verify --model encoder.pt | --checkpoint DIR --bin lfw.bin [--bin cfp_fp.bin ...]\n"
       "        10-fold accuracy and TAR at FAR 1e-3 on InsightFace verification sets",
       {"model", "checkpoint", "features", "bin", "verify_flip", "center_crop", "embed_batch",
        "threads", "cpu"}},
  };
  return *commands;
}

std::string ToolsUsage() {
  std::string text = "the local tools of ftl (started by `ftl COMMAND`; no coordinator needed):\n";
  for (const ToolCommand& c : ToolCommands()) absl::StrAppend(&text, c.synopsis, "\n");
  absl::StrAppend(&text, "`ftl COMMAND --help` lists that command's flags.");
  return text;
}

std::string ToolCommandHelp(const std::string& command) {
  for (const ToolCommand& c : ToolCommands()) {
    if (command == c.name) {
      return absl::StrCat("ftl ", c.name, ":\n", c.synopsis, "\n\nFlags:\n",
                          DescribeFlags(c.flags));
    }
  }
  return "";
}

namespace {

absl::StatusOr<SplitOptions> TableSplitFromFlags() {
  SplitOptions options;
  options.regular = absl::GetFlag(FLAGS_regular);
  options.ur_images = absl::GetFlag(FLAGS_ur_images);
  options.holdout = absl::GetFlag(FLAGS_holdout);
  options.min_train = absl::GetFlag(FLAGS_min_train);
  options.validation = absl::GetFlag(FLAGS_validation);
  options.seed = absl::GetFlag(FLAGS_seed);
  if (absl::GetFlag(FLAGS_roles) == "auto") {
    options.roles = options.ur_images > 0 ? SplitRoles::kDrawn : SplitRoles::kByCount;
  } else {
    FTL_ASSIGN_OR_RETURN(options.roles, ParseSplitRoles(absl::GetFlag(FLAGS_roles)));
  }
  options.ur_validation_beyond_budget = absl::GetFlag(FLAGS_ur_validation_beyond_budget);
  if (!absl::GetFlag(FLAGS_train_list).empty()) {
    FTL_ASSIGN_OR_RETURN(options.identities, ReadIdentityList(absl::GetFlag(FLAGS_train_list)));
  }
  return options;
}

// --center_crop of embed and verify: an override of the model's crop, 0 = the model's.
absl::StatusOr<double> CenterCropOverrideFromFlag() {
  const double crop = absl::GetFlag(FLAGS_center_crop);
  if (!(crop >= 0 && crop <= 1)) {
    return absl::InvalidArgumentError("--center_crop: must be in (0, 1], or 0 for the model's");
  }
  return crop;
}

// --features of export, embed and verify.
absl::Status CheckFeatures(const std::string& features) {
  if (features != "f" && features != "g") {
    return absl::InvalidArgumentError(
        absl::StrCat("--features: must be f or g, got '", features, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SplitCommandOptions> SplitOptionsFromFlags() {
  if (absl::GetFlag(FLAGS_data).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return absl::InvalidArgumentError(
        "usage: ftl split --data DIR [--labels IDX] --out DIR "
        "--regular K --ur_images k --holdout n");
  }
  SplitCommandOptions o;
  o.source = SourceFromFlags();
  FTL_ASSIGN_OR_RETURN(o.split, TableSplitFromFlags());
  o.out = absl::GetFlag(FLAGS_out);
  return o;
}

absl::StatusOr<PairsCommandOptions> PairsOptionsFromFlags() {
  if (absl::GetFlag(FLAGS_data).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return absl::InvalidArgumentError(
        "usage: ftl pairs --data DIR [--labels IDX] [--manifest FILE] --out pairs.txt");
  }
  PairsCommandOptions o;
  o.source = SourceFromFlags();
  o.manifest = absl::GetFlag(FLAGS_manifest);
  o.pairs.folds = absl::GetFlag(FLAGS_folds);
  o.pairs.seed = absl::GetFlag(FLAGS_seed);
  o.pairs.per_fold = absl::GetFlag(FLAGS_per_fold);
  o.out = absl::GetFlag(FLAGS_out);
  return o;
}

absl::StatusOr<EvalCommandOptions> EvalOptionsFromFlags() {
  EvalCommandOptions o;
  o.config = absl::GetFlag(FLAGS_config);
  o.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  o.out = absl::GetFlag(FLAGS_out);
  if (o.config.empty() || o.checkpoint.empty() || o.out.empty()) {
    return absl::InvalidArgumentError(
        "usage: ftl eval --config JOB.json --checkpoint FILE|DIR --out DIR");
  }
  o.seed = absl::GetFlag(FLAGS_seed);
  o.plot_script = absl::GetFlag(FLAGS_plot_script);
  return o;
}

absl::StatusOr<PackCommandOptions> PackOptionsFromFlags() {
  PackCommandOptions o;
  o.data = absl::GetFlag(FLAGS_data);
  o.out = absl::GetFlag(FLAGS_out);
  if (o.data.empty() || o.out.size() < 5 || !EndsWith(o.out, ".rec")) {
    return absl::InvalidArgumentError(
        "usage: ftl pack --data IMAGE_FOLDER --out NAME.rec   (writes NAME.rec and NAME.idx)");
  }
  return o;
}

absl::StatusOr<SynthCommandOptions> SynthOptionsFromFlags() {
  SynthCommandOptions o;
  o.out = absl::GetFlag(FLAGS_out);
  if (o.out.size() < 5 || !EndsWith(o.out, ".rec") || absl::GetFlag(FLAGS_identities) == 0) {
    return absl::InvalidArgumentError(
        "usage: ftl synth --out NAME.rec --identities N --regular K [--regular_images 21-40] "
        "[--ur_images 5] [--size 32] [--seed 1]   (writes NAME.rec and NAME.idx)");
  }
  SyntheticSetOptions& s = o.set;
  s.identities = absl::GetFlag(FLAGS_identities);
  s.regular = absl::GetFlag(FLAGS_regular);
  const std::string range = absl::GetFlag(FLAGS_regular_images);
  const std::vector<std::string> bounds = absl::StrSplit(range, '-');
  if (bounds.size() != 2 || !absl::SimpleAtoi(bounds[0], &s.min_regular_images) ||
      !absl::SimpleAtoi(bounds[1], &s.max_regular_images)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--regular_images: MIN-MAX such as 21-40, got \"", range, "\""));
  }
  s.min_ur_images = 1;
  s.max_ur_images = absl::GetFlag(FLAGS_ur_images) == 0 ? 5 : absl::GetFlag(FLAGS_ur_images);
  s.size = absl::GetFlag(FLAGS_size);
  s.seed = absl::GetFlag(FLAGS_seed);
  FTL_RETURN_IF_ERROR(CheckSyntheticSetOptions(s));
  return o;
}

absl::StatusOr<ExportCommandOptions> ExportOptionsFromFlags() {
  ExportCommandOptions o;
  o.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  o.out = absl::GetFlag(FLAGS_out);
  o.features = absl::GetFlag(FLAGS_features);
  o.format = absl::GetFlag(FLAGS_format);
  o.config = absl::GetFlag(FLAGS_config);
  o.python = absl::GetFlag(FLAGS_python);
  o.onnx_script = absl::GetFlag(FLAGS_onnx_script);
  if (o.checkpoint.empty() || o.out.empty()) {
    return absl::InvalidArgumentError(
        "usage: ftl export --checkpoint FILE|DIR --out encoder.pt [--features f|g] "
        "[--format torchscript|onnx|safetensors] [--config JOB.json]");
  }
  FTL_RETURN_IF_ERROR(CheckFeatures(o.features));
  if (o.format != "torchscript" && o.format != "onnx" && o.format != "safetensors") {
    return absl::InvalidArgumentError(
        absl::StrCat("--format: must be torchscript, onnx or safetensors, got '", o.format, "'"));
  }
  return o;
}

absl::StatusOr<EmbedCommandOptions> EmbedOptionsFromFlags() {
  EmbedCommandOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  o.features = absl::GetFlag(FLAGS_features);
  o.data = SourceFromFlags();
  o.manifest = absl::GetFlag(FLAGS_manifest);
  o.out = absl::GetFlag(FLAGS_out);
  o.flip = absl::GetFlag(FLAGS_flip);
  o.batch_size = absl::GetFlag(FLAGS_embed_batch);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.cpu = absl::GetFlag(FLAGS_cpu);
  FTL_ASSIGN_OR_RETURN(o.center_crop, CenterCropOverrideFromFlag());
  if (o.model.empty() == o.checkpoint.empty() || o.data.path.empty() || o.out.empty()) {
    return absl::InvalidArgumentError(
        "usage: ftl embed --model encoder.pt | --checkpoint FILE|DIR --data DIR|FILE.rec "
        "[--manifest F] --out DIR [--flip]");
  }
  if (o.data.format == "idx") {
    return absl::InvalidArgumentError("embed: --data must be an image folder or a .rec file");
  }
  FTL_RETURN_IF_ERROR(CheckFeatures(o.features));
  if (o.batch_size < 1) return absl::InvalidArgumentError("--embed_batch: must be at least 1");
  return o;
}

absl::StatusOr<VerifyCommandOptions> VerifyOptionsFromFlags(const std::vector<std::string>& bins) {
  VerifyCommandOptions o;
  o.model = absl::GetFlag(FLAGS_model);
  o.checkpoint = absl::GetFlag(FLAGS_checkpoint);
  o.features = absl::GetFlag(FLAGS_features);
  o.bins = bins.empty() ? absl::GetFlag(FLAGS_bin) : bins;
  o.flip = absl::GetFlag(FLAGS_verify_flip);
  o.batch_size = absl::GetFlag(FLAGS_embed_batch);
  o.threads = absl::GetFlag(FLAGS_threads);
  o.cpu = absl::GetFlag(FLAGS_cpu);
  FTL_ASSIGN_OR_RETURN(o.center_crop, CenterCropOverrideFromFlag());
  if (o.model.empty() == o.checkpoint.empty() || o.bins.empty()) {
    return absl::InvalidArgumentError(
        "usage: ftl verify --model encoder.pt | --checkpoint FILE|DIR --bin lfw.bin "
        "[--bin cfp_fp.bin ...] [--verify_flip=false]");
  }
  FTL_RETURN_IF_ERROR(CheckFeatures(o.features));
  if (o.batch_size < 1) return absl::InvalidArgumentError("--embed_batch: must be at least 1");
  return o;
}

absl::StatusOr<ExperimentOptions> ExperimentOptionsFromFlags() {
  ExperimentOptions o;
  if (absl::GetFlag(FLAGS_data).empty() || absl::GetFlag(FLAGS_out).empty()) {
    return absl::InvalidArgumentError(
        "usage: ftl experiment --data DIR --out DIR --regular K --ur_images k --holdout n [--seeds "
        "1,2,3]");
  }
  o.source = SourceFromFlags();
  FTL_ASSIGN_OR_RETURN(o.split, TableSplitFromFlags());
  o.out = absl::GetFlag(FLAGS_out);
  o.variants = absl::StrSplit(absl::GetFlag(FLAGS_variants), ',', absl::SkipEmpty());
  FTL_ASSIGN_OR_RETURN(o.budget, ParseBudget(absl::GetFlag(FLAGS_budget)));
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  FTL_ASSIGN_OR_RETURN(o.seeds, ParseSeeds(absl::GetFlag(FLAGS_seeds).empty()
                                               ? absl::StrCat(seed, ",", seed + 1, ",", seed + 2)
                                               : absl::GetFlag(FLAGS_seeds)));
  o.tuning_seed = absl::GetFlag(FLAGS_tuning_seed);
  o.splits = absl::GetFlag(FLAGS_splits);
  o.tune = absl::GetFlag(FLAGS_tune);
  o.grid = absl::GetFlag(FLAGS_grid);
  o.preset = absl::GetFlag(FLAGS_backbone).empty() ? absl::GetFlag(FLAGS_preset)
                                                   : absl::GetFlag(FLAGS_backbone);
  o.head = absl::GetFlag(FLAGS_head);
  o.input_size = absl::GetFlag(FLAGS_input_size);
  o.channels = absl::GetFlag(FLAGS_channels);
  o.center_crop = absl::GetFlag(FLAGS_center_crop) == 0 ? 1.0 : absl::GetFlag(FLAGS_center_crop);
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
  return o;
}

}  // namespace ftl
