// A trained encoder as a self-contained TorchScript module: images in, L2-normalised embeddings
// out. It loads with `torch.jit.load` (Python) and `torch::jit::load` (LibTorch) and needs no FTL
// code; `scripts/ftl_onnx.py` turns it into ONNX.
//
// Input convention: uint8 [N, C, S, S] (RGB for colour, grey for C = 1), each image already
// cropped and resized as in training (S = input_size). `forward` checks dtype and shape with a
// clear error; `features` is the same without checks or normalisation (for export tools).
// Attributes: input_size, channels, feature_dim, feature_layer ("g" = Enc(x), "f" = R(Enc(x))),
// center_crop (the crop training used, for tools that prepare images), format_version.
#ifndef FTL_COMMON_EXPORT_EMBEDDING_MODULE_H_
#define FTL_COMMON_EXPORT_EMBEDDING_MODULE_H_

#include <torch/script.h>
#include <torch/torch.h>

#include <string>

#include "absl/status/statusor.h"
#include "common/config/job_config.h"
#include "common/model/ftl_model.h"

namespace ftl {

enum class FeatureLayer { kG, kF };

struct EmbeddingModuleOptions {
  FeatureLayer features = FeatureLayer::kG;
  double center_crop = 1.0;
};

// What an embedding module says about itself (read back from its attributes).
struct EmbeddingModuleInfo {
  int input_size = 0;
  int channels = 0;
  int feature_dim = 0;
  std::string features;
  double center_crop = 1.0;
};

// The module for `model`'s encoder (and filter, for kF), with copies of its weights on the CPU.
absl::StatusOr<torch::jit::Module> BuildEmbeddingModule(const FtlModel& model,
                                                        const ModelShape& shape,
                                                        const EmbeddingModuleOptions& options);

// Loads a saved module and reads its attributes; InvalidArgument when the file is not one.
absl::StatusOr<torch::jit::Module> LoadEmbeddingModule(const std::string& path,
                                                       EmbeddingModuleInfo* info);

}  // namespace ftl

#endif  // FTL_COMMON_EXPORT_EMBEDDING_MODULE_H_
