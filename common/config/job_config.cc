#include "common/config/job_config.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace ftl {

std::string DefaultOutputDir(const std::string& job_name) {
  std::string folder;
  for (const char c : job_name) {
    const bool kept = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-';
    folder += kept ? c : '-';
  }
  if (folder.empty() || folder.find_first_not_of('.') == std::string::npos) folder = "ftl-job";
  if (folder != job_name && !job_name.empty()) {
    // Names that differ only in the characters made '-' ("a b", "a/b", two CJK names of one
    // length) must not share a folder: the name's FNV-1a hash tells them apart.
    uint32_t hash = 2166136261u;
    for (const char c : job_name) hash = (hash ^ static_cast<uint8_t>(c)) * 16777619u;
    folder += absl::StrFormat("-%08x", hash);
  }
  return "ftl-output/" + folder;
}

const char* MethodName(Method method) {
  switch (method) {
    case Method::kFtl:
      return "ftl";
    case Method::kSoftmax:
      return "softmax";
    case Method::kSoftmaxMl2:
      return "softmax_ml2";
  }
  return "?";
}

const char* HeadName(HeadKind kind) {
  switch (kind) {
    case HeadKind::kSoftmax:
      return "softmax";
    case HeadKind::kCosFace:
      return "cosface";
    case HeadKind::kArcFace:
      return "arcface";
    case HeadKind::kCombined:
      return "combined";
  }
  return "?";
}

const char* FilterName(FilterKind kind) {
  switch (kind) {
    case FilterKind::kPaper:
      return "paper";
    case FilterKind::kIdentity:
      return "identity";
    case FilterKind::kMlp:
      return "mlp";
  }
  return "?";
}

const std::vector<std::string>& BackboneNames() {
  static const std::vector<std::string> kNames = {
      "small", "paper", "iresnet18", "iresnet34", "iresnet50", "iresnet100", "mobilefacenet"};
  return kNames;
}

absl::StatusOr<ModelShape> ModelPreset(const std::string& name) {
  ModelShape shape;
  // arcface_torch's defaults for every backbone it trains: 112x112 colour, a 512-d embedding.
  auto arcface_torch = [&shape](BackboneKind kind, std::vector<int> blocks, int width_scale) {
    shape.backbone = kind;
    shape.filter = FilterKind::kMlp;
    shape.input_size = 112;
    shape.channels = 3;
    shape.feature_dim = 512;
    shape.blocks = std::move(blocks);
    shape.width_scale = width_scale;
    return shape;
  };
  // arcface_torch's backbones/iresnet.py: IBasicBlocks per stage.
  static const std::map<std::string, std::vector<int>> kIResNets = {{"iresnet18", {2, 2, 2, 2}},
                                                                    {"iresnet34", {3, 4, 6, 3}},
                                                                    {"iresnet50", {3, 4, 14, 3}},
                                                                    {"iresnet100", {3, 13, 30, 3}}};
  if (auto it = kIResNets.find(name); it != kIResNets.end()) {
    return arcface_torch(BackboneKind::kIResNet, it->second, 1);
  }
  // backbones/mobilefacenet.py's get_mbf ("mbf"): blocks (1, 4, 6, 2), scale 2.
  if (name == "mobilefacenet") return arcface_torch(BackboneKind::kMobileFaceNet, {1, 4, 6, 2}, 2);
  if (name == "small") {
    shape.input_size = 64;
    shape.channels = 1;
    shape.feature_dim = 128;
    shape.encoder_widths = {16, 32, 64, 96};
    shape.convs_per_stage = 0;
    shape.filter_width = 32;
    return shape;
  }
  if (name == "paper") {
    // CASIA-Net / DR-GAN-like: pairs of 3x3 convolutions, widths doubling per stage, D = 320.
    shape.input_size = 100;
    shape.channels = 3;
    shape.feature_dim = 320;
    shape.encoder_widths = {64, 128, 192, 256};
    shape.convs_per_stage = 1;
    shape.filter_width = 128;
    return shape;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("model.backbone: unknown backbone \"", name,
                   "\" (known: ", absl::StrJoin(BackboneNames(), ", "), ")"));
}

std::string NetworkName(const std::string& preset, const ModelShape& shape) {
  return absl::StrCat(preset, ":", FilterName(shape.filter));
}

absl::StatusOr<std::pair<std::string, ModelShape>> NetworkShape(const std::string& network,
                                                                int feature_dim, int input_size,
                                                                int channels) {
  for (const std::string& preset : BackboneNames()) {
    absl::StatusOr<ModelShape> shape = ModelPreset(preset);
    for (FilterKind f : {FilterKind::kPaper, FilterKind::kMlp, FilterKind::kIdentity}) {
      shape->filter = f;
      if (NetworkName(preset, *shape) != network) continue;
      shape->feature_dim = feature_dim;
      shape->input_size = input_size;
      shape->channels = channels;
      return std::make_pair(preset, *shape);
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("network '", network, "' is unknown to this build (known: ",
                   absl::StrJoin(BackboneNames(), ", "), ", each as <backbone>:<filter>)"));
}

const char* ThirdBatchName(ThirdBatch kind) {
  switch (kind) {
    case ThirdBatch::kTransfer:
      return "transfer";
    case ThirdBatch::kNone:
      return "none";
    case ThirdBatch::kUr:
      return "ur";
    case ThirdBatch::kCenter:
      return "center";
    case ThirdBatch::kCenterNoise:
      return "center_noise";
    case ThirdBatch::kRandomBasis:
      return "random_basis";
  }
  return "?";
}

absl::StatusOr<ThirdBatch> ParseThirdBatch(const std::string& name) {
  for (ThirdBatch kind :
       {ThirdBatch::kTransfer, ThirdBatch::kNone, ThirdBatch::kUr, ThirdBatch::kCenter,
        ThirdBatch::kCenterNoise, ThirdBatch::kRandomBasis}) {
    if (name == ThirdBatchName(kind)) return kind;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "training.stage1_third_batch: must be transfer, none, ur, center, center_noise or "
      "random_basis, got \"",
      name, "\""));
}

}  // namespace ftl
