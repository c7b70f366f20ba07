// ftl_tools: the local subcommands of `ftl` (split, pairs, eval, experiment, pack). `ftl`
// execs this binary for them, so the coordinator client itself never loads LibTorch.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/blas/blas.h"
#include "services/cli/command_flags.h"
#include "services/cli/tool_support.h"

int main(int argc, char** argv) {
  ftl::ReexecForBetterOpenBlasCore(argv);  // returns unless OpenBLAS chose pre-Haswell kernels
  absl::SetProgramUsageMessage(
      "the local tools of ftl (started by `ftl COMMAND`; no coordinator needed):\n"
      "  ftl split --data DIR --out DIR --regular K --ur_images k --holdout n [--validation v]\n"
      "        Table-1 split into manifests (train/fit/validation/holdout.txt, regular.txt)\n"
      "  ftl pairs --data DIR [--manifest holdout.txt] --out pairs.txt [--folds 10 --per_fold N]\n"
      "        balanced same/different pairs in disjoint folds, LFW pairs.txt format\n"
      "  ftl eval --config JOB.json --checkpoint FILE|DIR --out DIR\n"
      "        metrics of a checkpoint, Fig. 1b/4a plots, Fig. 6/7/8 pictures\n"
      "  ftl experiment --data DIR --out DIR --regular K --ur_images k --holdout n\n"
      "        [--seeds 1,2,3] [--variants ...] [--budget auto|P,R,S] [--grid full|quick]\n"
      "        [--jobs N] [--train_list F --pairs F] [--backbone iresnet18] [--head arcface]\n"
      "        softmax, softmax + m-L2, and FTL with its ablation and long-tail baselines\n"
      "        started from that softmax + m-L2 model, each tuned on validation and trained\n"
      "        with every seed; prints the table (mean +- s.e., FTL's paired differences) and\n"
      "        writes results.csv/results_seeds.csv/results.md. --data with --labels reads IDX\n"
      "        (Fashion-MNIST), --data NAME.rec reads RecordIO (NAME.idx beside it). With\n"
      "        --head arcface (cosface) the base is that head alone: arcface vs FTL.\n"
      "  ftl pack --data DIR --out NAME.rec\n"
      "        an image folder as InsightFace RecordIO (NAME.rec + NAME.idx)\n"
      "  ftl export --checkpoint FILE|DIR --out encoder.pt [--features f|g] [--format onnx]\n"
      "        the encoder as TorchScript (torch.jit.load) or ONNX: uint8 images in,\n"
      "        L2-normalised embeddings out (docs/models.md)\n"
      "  ftl embed --model encoder.pt | --checkpoint DIR --data DIR|FILE.rec --out DIR [--flip]\n"
      "        embeddings.npy (float32 N x D) and names.txt, streamed; unreadable images in\n"
      "        skipped.txt\n"
      "  ftl verify --model encoder.pt | --checkpoint DIR --bin lfw.bin [--bin cfp_fp.bin ...]\n"
      "        10-fold accuracy and TAR at FAR 1e-3 on InsightFace verification sets");
  // --help lists the tools' own flags (defined in services/cli/), not only this file's.
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "services/cli/");
  };
  absl::SetFlagsUsageConfig(usage);
  // --bin may be repeated (absl keeps only the last): gather every occurrence first.
  std::vector<std::string> bins;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string value;
    if (arg.rfind("--bin=", 0) == 0) {
      value = arg.substr(6);
    } else if (arg == "--bin" && i + 1 < argc) {
      value = argv[i + 1];
    } else {
      continue;
    }
    for (absl::string_view part : absl::StrSplit(value, ',', absl::SkipEmpty()))
      bins.emplace_back(part);
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const std::string command = args.size() >= 2 ? args[1] : "";
  if (args.size() != 2) {
    std::cerr << "ftl: error: usage: ftl split|pairs|eval|experiment|pack|export|embed|verify "
                 "--flags (see ftl "
                 "split "
                 "--help)\n";
    return 2;
  }
  // Each command's options are read from the flags once, here; a usage error exits 2.
  auto run = [](auto options, auto command) {
    if (!options.ok()) return ftl::Fail(std::string(options.status().message()), 2);
    return command(*options);
  };
  if (command == "split") return run(ftl::SplitOptionsFromFlags(), ftl::RunSplit);
  if (command == "pairs") return run(ftl::PairsOptionsFromFlags(), ftl::RunPairs);
  if (command == "eval") return run(ftl::EvalOptionsFromFlags(), ftl::RunEval);
  if (command == "experiment") return run(ftl::ExperimentOptionsFromFlags(), ftl::RunExperiment);
  if (command == "pack") return run(ftl::PackOptionsFromFlags(), ftl::RunPack);
  if (command == "export") return run(ftl::ExportOptionsFromFlags(), ftl::RunExport);
  if (command == "embed") return run(ftl::EmbedOptionsFromFlags(), ftl::RunEmbed);
  if (command == "verify") return run(ftl::VerifyOptionsFromFlags(bins), ftl::RunVerify);
  std::cerr << "ftl: error: unknown local command '" << command << "'\n";
  return 2;
}
