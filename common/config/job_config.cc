#include "common/config/job_config.h"

#include "absl/strings/str_cat.h"

namespace ftl {

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

absl::StatusOr<ModelShape> ModelPreset(const std::string& name) {
  ModelShape shape;
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
      absl::StrCat("model.preset: unknown preset \"", name, "\" (known: small, paper)"));
}

}  // namespace ftl
