// `ftl export --format safetensors`: a trained encoder as weights only. Reading it runs nothing
// (common/checkpoint/safetensors.h), which makes it the file to hand to `model.init_from`, to
// `ftl embed --model` / `ftl verify --model` from someone else, and to Python
// (`safetensors.torch.load_file`).
//
// Tensors: the encoder's parameters and buffers under the trainer's names ("enc.body.0.weight";
// for an IResNet "enc.iresnet." + arcface_torch's state_dict name, for MobileFaceNet
// "enc.mobilefacenet." + its name), and R's ("filter.") when the features are f.
// Metadata: ftl.embedding_format "1", ftl.network ("iresnet50:mlp"), ftl.input_size,
// ftl.channels, ftl.feature_dim, ftl.features ("f" = R(Enc(x)) or "g" = Enc(x)),
// ftl.center_crop, and ftl.input (the input convention in words: uint8 [N, C, S, S] RGB or grey,
// scaled to [0, 1], then Enc maps it to [-1, 1] as arcface_torch's (x / 255 - 0.5) / 0.5 does).
#ifndef FTL_COMMON_EXPORT_EMBEDDING_FILE_H_
#define FTL_COMMON_EXPORT_EMBEDDING_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/config/job_config.h"
#include "common/export/embedding_module.h"
#include "common/model/ftl_model.h"

namespace ftl {

absl::Status WriteEmbeddingFile(const FtlModel& model, const std::string& preset,
                                const ModelShape& shape, const EmbeddingModuleOptions& options,
                                const std::string& path);

// What a model file is, told from its first bytes (nothing is loaded).
enum class ModelFileKind {
  kMissing,
  kFolder,       // a job's output folder (its checkpoints)
  kCheckpoint,   // an FTL checkpoint frame, of any format
  kSafetensors,  // e.g. `ftl export --format safetensors`
  kTorchScript,  // a zip archive: `ftl export`'s TorchScript module, or any other; it is code
  kOther,
};
ModelFileKind SniffModelFile(const std::string& path);

struct EmbeddingFile {
  FtlModel model{nullptr};  // Enc (and R for f) loaded, the rest fresh; CPU, eval mode
  std::string preset;
  ModelShape shape;
  EmbeddingModuleInfo info;
};

// NotFound for a missing file; InvalidArgument for a file that is not an embedding export
// (no ftl.embedding_format) or names an unknown network; DataLoss for a damaged one or weights
// that do not fit the network it names (naming the tensor).
absl::StatusOr<EmbeddingFile> ReadEmbeddingFile(const std::string& path);

}  // namespace ftl

#endif  // FTL_COMMON_EXPORT_EMBEDDING_FILE_H_
