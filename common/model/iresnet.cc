#include "common/model/iresnet.h"

#include <string>

namespace ftl {
namespace {

namespace nn = torch::nn;

nn::Conv2d Conv(int in, int out, int kernel, int stride) {
  return nn::Conv2d(
      nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

nn::BatchNorm2d Bn(int channels) {
  return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).eps(1e-5));
}

}  // namespace

IBasicBlockImpl::IBasicBlockImpl(int inplanes, int planes, int stride) {
  bn1_ = register_module("bn1", Bn(inplanes));
  conv1_ = register_module("conv1", Conv(inplanes, planes, 3, 1));
  bn2_ = register_module("bn2", Bn(planes));
  prelu_ = register_module("prelu", nn::PReLU(nn::PReLUOptions().num_parameters(planes)));
  conv2_ = register_module("conv2", Conv(planes, planes, 3, stride));
  bn3_ = register_module("bn3", Bn(planes));
  if (stride != 1 || inplanes != planes) {
    downsample_ = register_module("downsample",
                                  nn::Sequential(Conv(inplanes, planes, 1, stride), Bn(planes)));
  }
}

torch::Tensor IBasicBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor out = bn3_(conv2_(prelu_(bn2_(conv1_(bn1_(x))))));
  return out + (downsample_ ? downsample_->forward(x) : x);
}

IResNetImpl::IResNetImpl(const std::vector<int>& blocks, int channels, int input_size,
                         int num_features) {
  TORCH_CHECK(blocks.size() == 4, "an IResNet has 4 stages");
  TORCH_CHECK(input_size % 16 == 0, "an IResNet needs an input size divisible by 16");
  conv1_ = register_module("conv1", Conv(channels, 64, 3, 1));
  bn1_ = register_module("bn1", Bn(64));
  prelu_ = register_module("prelu", nn::PReLU(nn::PReLUOptions().num_parameters(64)));
  const int widths[4] = {64, 128, 256, 512};
  int inplanes = 64;
  for (int stage = 0; stage < 4; ++stage) {
    nn::Sequential layer;
    for (int b = 0; b < blocks[stage]; ++b) {
      layer->push_back(IBasicBlock(inplanes, widths[stage], b == 0 ? 2 : 1));
      inplanes = widths[stage];
    }
    layers_[stage] = register_module("layer" + std::to_string(stage + 1), layer);
  }
  bn2_ = register_module("bn2", Bn(512));
  const int side = input_size / 16;
  fc_ = register_module("fc", nn::Linear(512 * side * side, num_features));
  features_ =
      register_module("features", nn::BatchNorm1d(nn::BatchNorm1dOptions(num_features).eps(1e-5)));
  // arcface_torch's initialisation: conv weights N(0, 0.1), batch norms weight 1 and bias 0 (the
  // LibTorch defaults), the embedding's batch-norm weight fixed at 1.
  torch::NoGradGuard no_grad;
  for (const auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<nn::Conv2d>()) conv->weight.normal_(0.0, 0.1);
  }
  features_->weight.fill_(1.0);
  features_->weight.set_requires_grad(false);
}

torch::Tensor IResNetImpl::forward(torch::Tensor x) {
  x = prelu_(bn1_(conv1_(x)));
  for (auto& layer : layers_) x = layer->forward(x);
  x = torch::flatten(bn2_(x), 1);  // dropout 0 (arcface_torch's default): nothing to do
  return features_(fc_(x));
}

}  // namespace ftl
