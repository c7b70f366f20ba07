// The paper's network (Sec. 3.2, Fig. 2): encoder Enc (x -> rich feature g), decoder Dec
// (g -> x') and filter R (g -> identity feature f). The classifier FC (f -> logits) is a
// component of its own: common/classifier/classifier.h.
//
// The paper presets have no batch normalisation (group normalisation instead): every layer is
// per-sample, so data-parallel training with R ranks of batch B computes exactly what one process
// computes with batch R*B. arcface_torch's backbones (IResNet, MobileFaceNet) use batch norm per
// rank, as arcface_torch does.
#ifndef FTL_COMMON_MODEL_FTL_MODEL_H_
#define FTL_COMMON_MODEL_FTL_MODEL_H_

#include <torch/torch.h>

#include <vector>

#include "common/config/job_config.h"
#include "common/model/iresnet.h"
#include "common/model/mobilefacenet.h"

namespace ftl {

// A 3x3 stride-2 transposed convolution (padding 1) from side `in_size` to exactly `out_size`
// (2 in_size - 1 or 2 in_size), computed as zero insertion + an ordinary convolution with the
// flipped kernel. Same result, parameters ("weight" [in, out, 3, 3], "bias") and initialisation as
// nn::ConvTranspose2d, but the ordinary convolution runs on oneDNN while LibTorch's CPU transposed
// convolution takes a slow im2col + BLAS path: 3-4x faster forward + backward on CPU.
class UpsampleConv3x3Impl : public torch::nn::Module {
 public:
  UpsampleConv3x3Impl(int in, int out, int in_size, int out_size, bool bias);
  torch::Tensor forward(const torch::Tensor& x);
  // 0 or 1: the output_padding of the equivalent nn::ConvTranspose2d (stride 2, padding 1).
  int output_padding() const { return output_padding_; }

 private:
  int output_padding_;
  torch::Tensor weight_, bias_;
};
TORCH_MODULE(UpsampleConv3x3);

// Enc: stride-2 convolution stages, a 3x3 convolution to D channels, global average pooling; or,
// for model.backbone iresnet*, arcface_torch's IResNet (registered as "iresnet"), for
// mobilefacenet its MobileFaceNet (registered as "mobilefacenet"); both channels-last.
class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const ModelShape& shape);
  // x: [B, C, S, S] in [0, 1] -> g: [B, D].
  torch::Tensor forward(torch::Tensor x);
  // Parameters no phase trains (the IResNet's features.weight).
  std::vector<torch::Tensor> frozen_parameters() const;

 private:
  torch::nn::Sequential body_{nullptr};
  IResNet iresnet_{nullptr};
  MobileFaceNet mobilefacenet_{nullptr};
};
TORCH_MODULE(Encoder);

// Dec: mirror of Enc; a linear layer to the smallest map, transposed convolutions back to S x S.
class DecoderImpl : public torch::nn::Module {
 public:
  explicit DecoderImpl(const ModelShape& shape);
  // g: [B, D] -> x': [B, C, S, S] in (0, 1).
  torch::Tensor forward(torch::Tensor g);

 private:
  int base_width_;
  int base_size_;
  torch::nn::Linear project_{nullptr};
  torch::nn::Sequential body_{nullptr};
};
TORCH_MODULE(Decoder);

// R: linear, two deconvolutions, two convolutions, linear (Sec. 4); or (model.filter,
// arcface_torch's backbones) the identity, or linear, PReLU, linear (registered as "mlp").
class FeatureFilterImpl : public torch::nn::Module {
 public:
  explicit FeatureFilterImpl(const ModelShape& shape);
  // g: [B, D] -> f: [B, D].
  torch::Tensor forward(torch::Tensor g);
  FilterKind kind() const { return kind_; }

 private:
  FilterKind kind_;
  torch::nn::Sequential mlp_{nullptr};
  int width_;
  torch::nn::Linear project_{nullptr};
  torch::nn::Sequential body_{nullptr};
  torch::nn::Linear out_{nullptr};
};
TORCH_MODULE(FeatureFilter);

// The three modules together (the classifier FC lives in common/classifier).
class FtlModelImpl : public torch::nn::Module {
 public:
  explicit FtlModelImpl(const ModelShape& shape);

  Encoder enc{nullptr};
  Decoder dec{nullptr};  // empty for backbones without a decoder (shape.has_decoder())
  FeatureFilter filter{nullptr};
};
TORCH_MODULE(FtlModel);

// Spatial side after each stride-2 stage: input_size, then ceil(s / 2) per stage.
std::vector<int> EncoderMapSizes(const ModelShape& shape);

}  // namespace ftl

#endif  // FTL_COMMON_MODEL_FTL_MODEL_H_
