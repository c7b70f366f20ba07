#include "common/model/ftl_model.h"

#include <cmath>

#include "common/model/iresnet.h"
#include "common/model/mobilefacenet.h"

namespace ftl {
namespace {

namespace nn = torch::nn;

nn::Conv2d Conv3x3(int in, int out, int stride, bool bias = true) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(bias));
}

// A convolution followed by Norm has no bias: the normalisation removes it, and a parameter with
// a (numerically) zero gradient is one Adam would move by rounding noise.
//
// Group normalisation is per sample (unlike batch norm), so data-parallel training stays exactly
// equivalent to one large batch; it makes training from scratch much faster than plain ELU stacks.
nn::GroupNorm Norm(int channels) {
  int groups = std::min(8, channels);
  while (channels % groups != 0) --groups;
  return nn::GroupNorm(nn::GroupNormOptions(groups, channels));
}

}  // namespace

UpsampleConv3x3Impl::UpsampleConv3x3Impl(int in, int out, int in_size, int out_size, bool bias)
    : output_padding_(out_size - (2 * in_size - 1)) {
  TORCH_CHECK(output_padding_ == 0 || output_padding_ == 1, "bad deconvolution sizes ", in_size,
              " -> ", out_size);
  // As nn::ConvTranspose2d: weight [in, out, 3, 3], Kaiming-uniform with fan-in out * 9.
  weight_ = register_parameter("weight", torch::empty({in, out, 3, 3}));
  torch::nn::init::kaiming_uniform_(weight_, std::sqrt(5.0));
  if (bias) {
    const double bound = 1.0 / std::sqrt(out * 9.0);
    bias_ = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
  }
}

torch::Tensor UpsampleConv3x3Impl::forward(const torch::Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  // x spread onto the even positions of a 2h x 2w grid of zeros.
  torch::Tensor spread = torch::zeros({x.size(0), x.size(1), 2 * h, 2 * w}, x.options());
  spread.slice(2, 0, 2 * h, 2).slice(3, 0, 2 * w, 2).copy_(x);
  const torch::Tensor kernel = weight_.flip({2, 3}).transpose(0, 1);
  torch::Tensor y = torch::conv2d(spread, kernel, bias_, /*stride=*/1, /*padding=*/1);
  // With padding 1 the output is 2h x 2w, i.e. output_padding 1; drop the last row and column for
  // output_padding 0 (they read only the grid's extra zeros).
  if (output_padding_ == 0) y = y.slice(2, 0, 2 * h - 1).slice(3, 0, 2 * w - 1);
  return y;
}

std::vector<int> EncoderMapSizes(const ModelShape& shape) {
  std::vector<int> sizes = {shape.input_size};
  for (size_t i = 0; i < shape.encoder_widths.size(); ++i) {
    sizes.push_back((sizes.back() - 1) / 2 + 1);
  }
  return sizes;
}

EncoderImpl::EncoderImpl(const ModelShape& shape) {
  if (shape.from_arcface_torch()) {
    if (shape.backbone == BackboneKind::kIResNet) {
      iresnet_ = register_module(
          "iresnet", IResNet(shape.blocks, shape.channels, shape.input_size, shape.feature_dim));
    } else {
      mobilefacenet_ = register_module(
          "mobilefacenet", MobileFaceNet(shape.blocks, shape.width_scale, shape.channels,
                                         shape.input_size, shape.feature_dim));
    }
    // Channels-last convolution weights (and inputs, in forward): oneDNN's native layout, 6-12%
    // faster forward + backward on the CPU for iresnet18 (bench/run.sh), and the layout tensor
    // cores want. Values and parameter names are unchanged.
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : parameters()) {
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
    }
    return;
  }
  body_ = nn::Sequential();
  int in = shape.channels;
  for (int width : shape.encoder_widths) {
    for (int i = 0; i < shape.convs_per_stage; ++i) {
      body_->push_back(Conv3x3(in, width, 1, /*bias=*/false));
      body_->push_back(Norm(width));
      body_->push_back(nn::ELU());
      in = width;
    }
    body_->push_back(Conv3x3(in, width, 2, /*bias=*/false));
    body_->push_back(Norm(width));
    body_->push_back(nn::ELU());
    in = width;
  }
  body_->push_back(Conv3x3(in, shape.feature_dim, 1));
  body_->push_back(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions(1)));
  body_->push_back(nn::Flatten());
  register_module("body", body_);
}

// Inputs in [0, 1] are centred to [-1, 1] first.
// (arcface_torch normalises the same way: (x - 0.5) / 0.5.)
torch::Tensor EncoderImpl::forward(torch::Tensor x) {
  if (iresnet_)
    return iresnet_->forward((x * 2.0 - 1.0).contiguous(torch::MemoryFormat::ChannelsLast));
  if (mobilefacenet_)
    return mobilefacenet_->forward((x * 2.0 - 1.0).contiguous(torch::MemoryFormat::ChannelsLast));
  return body_->forward(x * 2.0 - 1.0);
}

// (arcface_torch's MobileFaceNet freezes nothing.)
std::vector<torch::Tensor> EncoderImpl::frozen_parameters() const {
  return iresnet_ ? iresnet_->frozen_parameters() : std::vector<torch::Tensor>{};
}

DecoderImpl::DecoderImpl(const ModelShape& shape) {
  const std::vector<int> sizes = EncoderMapSizes(shape);
  const std::vector<int>& widths = shape.encoder_widths;
  base_width_ = widths.back();
  base_size_ = sizes.back();
  project_ = register_module("project",
                             nn::Linear(shape.feature_dim, base_width_ * base_size_ * base_size_));
  body_ = nn::Sequential();
  body_->push_back(nn::ELU());
  for (size_t stage = widths.size(); stage-- > 0;) {
    const int out = stage > 0 ? widths[stage - 1] : widths.front();
    body_->push_back(
        UpsampleConv3x3(widths[stage], out, sizes[stage + 1], sizes[stage], /*bias=*/false));
    body_->push_back(Norm(out));
    body_->push_back(nn::ELU());
  }
  body_->push_back(Conv3x3(widths.front(), shape.channels, 1));
  body_->push_back(nn::Sigmoid());
  register_module("body", body_);
}

torch::Tensor DecoderImpl::forward(torch::Tensor g) {
  torch::Tensor h = project_->forward(g).view({g.size(0), base_width_, base_size_, base_size_});
  return body_->forward(h);
}

FeatureFilterImpl::FeatureFilterImpl(const ModelShape& shape)
    : kind_(shape.filter), width_(shape.filter_width) {
  if (kind_ == FilterKind::kIdentity) return;
  if (kind_ == FilterKind::kMlp) {
    const int d = shape.feature_dim;
    mlp_ = register_module(
        "mlp", nn::Sequential(nn::Linear(d, d), nn::PReLU(nn::PReLUOptions().num_parameters(d)),
                              nn::Linear(d, d)));
    return;
  }
  const int w = width_;
  project_ = register_module("project", nn::Linear(shape.feature_dim, w * 4 * 4));
  body_ = nn::Sequential(nn::ELU(), UpsampleConv3x3(w, w / 2, 4, 8, true), nn::ELU(),
                         UpsampleConv3x3(w / 2, w / 4, 8, 16, true), nn::ELU(),
                         Conv3x3(w / 4, w / 2, 2), nn::ELU(), Conv3x3(w / 2, w, 2), nn::ELU(),
                         nn::Flatten());
  register_module("body", body_);
  out_ = register_module("out", nn::Linear(w * 4 * 4, shape.feature_dim));
}

torch::Tensor FeatureFilterImpl::forward(torch::Tensor g) {
  if (kind_ == FilterKind::kIdentity) return g;
  if (kind_ == FilterKind::kMlp) return mlp_->forward(g);
  torch::Tensor h = project_->forward(g).view({g.size(0), width_, 4, 4});
  return out_->forward(body_->forward(h));
}

FtlModelImpl::FtlModelImpl(const ModelShape& shape) {
  enc = register_module("enc", Encoder(shape));
  if (shape.has_decoder()) dec = register_module("dec", Decoder(shape));
  filter = register_module("filter", FeatureFilter(shape));
}

}  // namespace ftl
