#include "common/model/mobilefacenet.h"

#include <utility>

namespace ftl {
namespace {

namespace nn = torch::nn;

// mobilefacenet.py's ConvBlock: a convolution without bias, BatchNorm2d (PyTorch's defaults, as
// arcface_torch: eps 1e-5, momentum 0.1), a PReLU per channel; with `linear`, its LinearBlock (no
// PReLU).
MobileFaceNetBlock ConvBlock(int in, int out, int kernel, int stride, int padding, int groups,
                             bool linear = false) {
  nn::Sequential layers(nn::Conv2d(nn::Conv2dOptions(in, out, kernel)
                                       .stride(stride)
                                       .padding(padding)
                                       .groups(groups)
                                       .bias(false)),
                        nn::BatchNorm2d(nn::BatchNorm2dOptions(out)));
  if (!linear) layers->push_back(nn::PReLU(nn::PReLUOptions().num_parameters(out)));
  return MobileFaceNetBlock(std::move(layers), /*residual=*/false);
}

// An inverted residual: a 1x1 expansion to `groups` channels, a 3x3 depthwise convolution
// (stride), a linear 1x1 projection to `out`.
MobileFaceNetBlock DepthWise(int in, int out, int groups, int stride, bool residual) {
  return MobileFaceNetBlock(nn::Sequential(ConvBlock(in, groups, 1, 1, 0, 1),
                                           ConvBlock(groups, groups, 3, stride, 1, groups),
                                           ConvBlock(groups, out, 1, 1, 0, 1, /*linear=*/true)),
                            residual);
}

// `count` residual DepthWise blocks at one width.
MobileFaceNetBlock Residual(int channels, int count, int groups) {
  nn::Sequential layers;
  for (int i = 0; i < count; ++i) {
    layers->push_back(DepthWise(channels, channels, groups, 1, /*residual=*/true));
  }
  return MobileFaceNetBlock(std::move(layers), /*residual=*/false);
}

// The global depthwise convolution over the whole side x side map (a LinearBlock), flatten, a
// bias-free linear layer to the embedding, BatchNorm1d.
MobileFaceNetBlock Gdc(int side, int num_features) {
  return MobileFaceNetBlock(
      nn::Sequential(ConvBlock(512, 512, side, 1, 0, 512, /*linear=*/true), nn::Flatten(),
                     nn::Linear(nn::LinearOptions(512, num_features).bias(false)),
                     nn::BatchNorm1d(nn::BatchNorm1dOptions(num_features))),
      /*residual=*/false);
}

}  // namespace

MobileFaceNetBlockImpl::MobileFaceNetBlockImpl(torch::nn::Sequential layers, bool residual)
    : residual_(residual) {
  layers_ = register_module("layers", std::move(layers));
}

torch::Tensor MobileFaceNetBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = layers_->forward(x);
  return residual_ ? x + y : y;
}

MobileFaceNetImpl::MobileFaceNetImpl(const std::vector<int>& blocks, int width_scale, int channels,
                                     int input_size, int num_features) {
  TORCH_CHECK(blocks.size() == 4, "a MobileFaceNet has 4 entries of blocks");
  TORCH_CHECK(input_size % 16 == 0, "a MobileFaceNet needs an input size divisible by 16");
  const int c64 = 64 * width_scale, c128 = 128 * width_scale;
  layers_ = nn::Sequential();
  layers_->push_back(ConvBlock(channels, c64, 3, 2, 1, 1));
  layers_->push_back(blocks[0] == 1 ? ConvBlock(c64, c64, 3, 1, 1, 64)
                                    : Residual(c64, blocks[0], 128));
  layers_->push_back(DepthWise(c64, c64, 128, 2, /*residual=*/false));
  layers_->push_back(Residual(c64, blocks[1], 128));
  layers_->push_back(DepthWise(c64, c128, 256, 2, /*residual=*/false));
  layers_->push_back(Residual(c128, blocks[2], 256));
  layers_->push_back(DepthWise(c128, c128, 512, 2, /*residual=*/false));
  layers_->push_back(Residual(c128, blocks[3], 256));
  register_module("layers", layers_);
  conv_sep_ = register_module("conv_sep", ConvBlock(c128, 512, 1, 1, 0, 1));
  features_ = register_module("features", Gdc(input_size / 16, num_features));
  // arcface_torch's _initialize_weights: every convolution and linear weight Kaiming-normal with
  // fan-out and ReLU gain. Batch norms (weight 1, bias 0) and PReLU slopes (0.25) keep LibTorch's
  // defaults, which are PyTorch's.
  torch::NoGradGuard no_grad;
  for (const auto& module : modules(/*include_self=*/false)) {
    torch::Tensor* weight = nullptr;
    if (auto* conv = module->as<nn::Conv2d>()) weight = &conv->weight;
    if (auto* linear = module->as<nn::Linear>()) weight = &linear->weight;
    if (weight != nullptr) nn::init::kaiming_normal_(*weight, 0.0, torch::kFanOut, torch::kReLU);
  }
}

torch::Tensor MobileFaceNetImpl::forward(torch::Tensor x) {
  return features_(conv_sep_(layers_->forward(x)));
}

}  // namespace ftl
