// The local `ftl` commands (run by ftl_tools), each as an options struct and a Run function that
// returns the process exit code (0 ok, 1 failure, 2 bad usage). The options are built once from
// the command line in command_flags.cc; nothing else here reads a flag.
//   ftl split       split_command.cc       Table-1 style split into manifests
//   ftl pairs       pairs_command.cc       verification pairs in disjoint folds (LFW format)
//   ftl eval        eval_command.cc        metrics, figures and pictures of a checkpoint
//   ftl experiment  experiment.h           softmax / softmax + m-L2 / FTL and baselines
//   ftl pack        pack_command.cc        an image folder as InsightFace RecordIO
//   ftl synth       pack_command.cc        a generated long-tailed set as InsightFace RecordIO
//   ftl export      export_command.cc      a trained encoder as TorchScript or ONNX
//   ftl embed       embed_command.cc       images to embeddings.npy + names.txt
//   ftl verify      verify_command.cc      10-fold accuracy on InsightFace .bin sets
#ifndef FTL_SERVICES_CLI_COMMANDS_H_
#define FTL_SERVICES_CLI_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/config/job_config.h"
#include "common/data/synthetic_set.h"
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

struct SynthCommandOptions {
  std::string out;  // NAME.rec (NAME.idx beside it)
  SyntheticSetOptions set;
};
int RunSynth(const SynthCommandOptions& options);

struct ExportCommandOptions {
  std::string checkpoint;              // a file, or a folder (its newest checkpoint that loads)
  std::string out;                     // the module file
  std::string features = "f";          // "f" = R(Enc(x)) (where FTL acts) or "g" = Enc(x)
  std::string format = "torchscript";  // or "onnx" (through `python onnx_script`)
  std::string config;                  // optional: the job config, for its centre crop
  std::string python;                  // with torch, for ONNX
  std::string onnx_script;             // scripts/ftl_onnx.py
};
int RunExport(const ExportCommandOptions& options);

struct EmbedCommandOptions {
  std::string model;           // a module from `ftl export`, or
  std::string checkpoint;      // a checkpoint file or a job's folder
  std::string features = "f";  // with --checkpoint
  DataConfig data;             // an image folder or NAME.rec
  std::string manifest;        // only these samples ("" = all)
  std::string out;             // folder for embeddings.npy, names.txt, skipped.txt
  bool flip = false;           // add the mirror image's embedding
  int batch_size = 256;
  int threads = 0;         // 0 = the usable CPUs (common/util/cpus.h)
  bool cpu = false;        // never CUDA
  double center_crop = 0;  // overrides the model's crop; 0 = the model's
};
int RunEmbed(const EmbedCommandOptions& options);

struct VerifyCommandOptions {
  std::string model;       // a module from `ftl export`, or
  std::string checkpoint;  // a checkpoint file or a job's folder
  std::string features = "f";
  std::vector<std::string> bins;  // lfw.bin, cfp_fp.bin, ...
  bool flip = true;               // as InsightFace's verification.py
  int batch_size = 256;
  int threads = 0;
  bool cpu = false;
  double center_crop = 0;  // overrides the model's crop; 0 = the model's
};
int RunVerify(const VerifyCommandOptions& options);

}  // namespace ftl

#endif  // FTL_SERVICES_CLI_COMMANDS_H_
