// ftl_tools: the local subcommands of `ftl` (split, pairs, eval, experiment, pack). `ftl`
// execs this binary for them, so the coordinator client itself never loads LibTorch.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/blas/blas.h"
#include "common/util/flag_help.h"
#include "services/cli/command_flags.h"
#include "services/cli/tool_support.h"

int main(int argc, char** argv) {
  ftl::ReexecForBetterOpenBlasCore(argv);  // returns unless OpenBLAS chose pre-Haswell kernels
  absl::SetProgramUsageMessage(ftl::ToolsUsage());
  // `ftl COMMAND --help`: that command's flags only, exit 0 (absl's --help lists every flag linked
  // in and exits 1).
  if (ftl::HelpRequested(argc, argv)) {
    const std::string help = argc >= 2 ? ftl::ToolCommandHelp(argv[1]) : "";
    std::cout << (help.empty() ? ftl::ToolsUsage() + "\n" : help);
    return 0;
  }
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
    std::cerr
        << "ftl: error: usage: ftl split|pairs|eval|experiment|pack|synth|export|embed|verify "
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
  if (command == "synth") return run(ftl::SynthOptionsFromFlags(), ftl::RunSynth);
  if (command == "export") return run(ftl::ExportOptionsFromFlags(), ftl::RunExport);
  if (command == "embed") return run(ftl::EmbedOptionsFromFlags(), ftl::RunEmbed);
  if (command == "verify") return run(ftl::VerifyOptionsFromFlags(bins), ftl::RunVerify);
  std::cerr << "ftl: error: unknown local command '" << command << "'\n";
  return 2;
}
