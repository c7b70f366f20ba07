// arcface_torch's IResNet (backbones/iresnet.py) in LibTorch: the same layers, order, parameter
// names (conv1, bn1, prelu, layer1.0.bn1, ..., layer1.0.downsample.0, bn2, fc, features) and
// initialisation, so parameter counts match and its state_dict keys map one to one.
#ifndef FTL_COMMON_MODEL_IRESNET_H_
#define FTL_COMMON_MODEL_IRESNET_H_

#include <torch/torch.h>

#include <vector>

namespace ftl {

// BN, conv3x3, BN, PReLU, conv3x3 (stride), BN, plus the shortcut (conv1x1 + BN when the shape
// changes).
class IBasicBlockImpl : public torch::nn::Module {
 public:
  IBasicBlockImpl(int inplanes, int planes, int stride);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::PReLU prelu_{nullptr};
  torch::nn::Sequential downsample_{nullptr};  // empty when the shortcut is the identity
};
TORCH_MODULE(IBasicBlock);

class IResNetImpl : public torch::nn::Module {
 public:
  // blocks: IBasicBlocks per stage (iresnet18: 2, 2, 2, 2); the input is [B, channels, S, S] with
  // S a multiple of 16; the output the num_features embedding (after `features`, a BatchNorm1d
  // whose weight stays 1: frozen_parameters()).
  IResNetImpl(const std::vector<int>& blocks, int channels, int input_size, int num_features);
  torch::Tensor forward(torch::Tensor x);

  // Parameters that never train (features.weight, as arcface_torch sets requires_grad False).
  std::vector<torch::Tensor> frozen_parameters() const { return {features_->weight}; }

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr};
  torch::nn::PReLU prelu_{nullptr};
  torch::nn::Sequential layers_[4] = {
      torch::nn::Sequential{nullptr}, torch::nn::Sequential{nullptr},
      torch::nn::Sequential{nullptr}, torch::nn::Sequential{nullptr}};
  torch::nn::Linear fc_{nullptr};
  torch::nn::BatchNorm1d features_{nullptr};
};
TORCH_MODULE(IResNet);

}  // namespace ftl

#endif  // FTL_COMMON_MODEL_IRESNET_H_
