// Helpers shared by the local `ftl` tools (the *_command.cc files, experiment.cc): messages, the
// newest checkpoint, and the figures of a trained model. None reads a flag.
#ifndef FTL_SERVICES_CLI_TOOL_SUPPORT_H_
#define FTL_SERVICES_CLI_TOOL_SUPPORT_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/export/embedding_module.h"
#include "common/protocol/protocol.h"
#include "common/train/trainer.h"
#include "google/protobuf/message.h"

namespace ftl {

// Prints "ftl: error: MESSAGE" to stderr and returns `code` (1 failure, 2 bad usage).
int Fail(const std::string& message, int code = 1);
// The CPUs this process may use (affinity mask and cgroup quota, common/util/cpus.h; at least 1).
int Cores();
// "split: N identities (R regular, U UR): ..." on stdout.
void PrintSplit(const DataSplit& split);
// Pairs per fold that `images` hold-out images comfortably allow: at most 300 (LFW's), at least 5.
int DefaultPerFold(size_t images, int folds);

// Writes the figures and pictures of a trained model into `out`: center_error.csv, Fig. 1b/4a
// PNG plots (from out/weight_norms.csv when the evaluate phase wrote one, and Fig. 1b before and
// after stage 1 when `stage1_norms_before`/`after` name CSVs), and the Fig. 6-8 pictures.
// `plot_script` is scripts/ftl_plots.py, run as an argument vector (no shell).
absl::Status AnalyzeModel(Trainer& trainer, const Dataset& dataset, const std::string& out,
                          uint64_t seed, const std::string& plot_script,
                          const std::string& stage1_norms_before = "",
                          const std::string& stage1_norms_after = "");

// An embedding module ready for `ftl embed` / `ftl verify`: on its device, with its input
// convention and the decoding options that produce that input.
struct CommandModel {
  torch::jit::Module module;
  EmbeddingModuleInfo info;
  ImageOptions image;  // size, channels and centre crop of `info`
  torch::Device device = torch::kCPU;

  // Embeddings of uint8 `images` [N, C, S, S] (with `flip`, of the image and its mirror image
  // summed and re-normalised, as InsightFace's evaluation does), as float32 [N, D] on the CPU.
  torch::Tensor Embed(const torch::Tensor& images, bool flip);
};

// The module of --model (a file from `ftl export`: safetensors, read as data and built here, or a
// TorchScript module, whose code runs as it loads, which a note on stderr says; a checkpoint or
// a job's folder there counts as --checkpoint), else built from --checkpoint (a file or a job's
// folder) for --features ("f" or "g"); on CUDA when present unless `cpu`, with `threads` intra-op
// threads (0 = the usable CPUs). Images are centre-cropped as the model was trained (the crop its
// file records) unless `center_crop` (in (0, 1]) overrides it; 0 keeps the model's.
absl::StatusOr<CommandModel> ModelForCommand(const std::string& model,
                                             const std::string& checkpoint,
                                             const std::string& features, bool cpu, int threads,
                                             double center_crop = 0);

}  // namespace ftl

#endif  // FTL_SERVICES_CLI_TOOL_SUPPORT_H_
