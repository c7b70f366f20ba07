// The local `ftl` commands (run by ftl_tools), each as an options struct and a Run function that
// returns the process exit code (0 ok, 1 failure, 2 bad usage). The options are built once from
// the command line in command_flags.cc; nothing else here reads a flag.
//   ftl split       split_command.cc       Table-1 style split into manifests
//   ftl pairs       pairs_command.cc       verification pairs in disjoint folds (LFW format)
//   ftl eval        eval_command.cc        metrics, figures and pictures of a checkpoint
//   ftl experiment  experiment.h           softmax / softmax + m-L2 / FTL and baselines
//   ftl pack        pack_command.cc        an image folder as InsightFace RecordIO
#ifndef FTL_SERVICES_CLI_COMMANDS_H_
#define FTL_SERVICES_CLI_COMMANDS_H_

#include <cstdint>
#include <string>

#include "common/config/job_config.h"
#include "common/protocol/protocol.h"

namespace ftl {

struct SplitCommandOptions {
  DataConfig source;  // path, labels, format
  SplitOptions split;
  std::string out;  // folder for the manifests
};
int RunSplit(const SplitCommandOptions& options);

struct PairsCommandOptions {
  DataConfig source;
  std::string manifest;  // "" = every image of the source is eligible
  PairOptions pairs;     // per_fold 0 = as many as the eligible images allow, up to 300
  std::string out;       // the pairs file
};
int RunPairs(const PairsCommandOptions& options);

struct EvalCommandOptions {
  std::string config;      // the job config the checkpoint was trained with
  std::string checkpoint;  // a file, or a folder (its newest checkpoint that loads)
  std::string out;
  uint64_t seed = 1;        // of the pictures' sample choice
  std::string plot_script;  // scripts/ftl_plots.py
};
int RunEval(const EvalCommandOptions& options);

struct PackCommandOptions {
  std::string data;  // an image folder
  std::string out;   // NAME.rec (NAME.idx beside it)
};
int RunPack(const PackCommandOptions& options);

}  // namespace ftl

#endif  // FTL_SERVICES_CLI_COMMANDS_H_
