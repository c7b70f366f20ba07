// arcface_torch's MobileFaceNet ("mbf", backbones/mobilefacenet.py, get_mbf) in LibTorch: the same
// layers, order, parameter names (layers.0.layers.0.weight, ..., layers.3.layers.0.layers.1.
// layers.0.weight, conv_sep.layers.0.weight, features.layers.3.running_mean) and initialisation,
// so parameter counts match (2,059,520 at 112x112 with 512 features) and its state_dict keys map
// one to one. Nothing is frozen: unlike the IResNet's, the embedding batch norm's weight trains.
#ifndef FTL_COMMON_MODEL_MOBILEFACENET_H_
#define FTL_COMMON_MODEL_MOBILEFACENET_H_

#include <torch/torch.h>

#include <vector>

namespace ftl {

// Each of mobilefacenet.py's modules (ConvBlock, LinearBlock, DepthWise, Residual, GDC) is a
// Sequential called `layers`, run in order; a residual one (a DepthWise inside a Residual) adds its
// input to the result. mobilefacenet.cc builds each kind as one of these.
class MobileFaceNetBlockImpl : public torch::nn::Module {
 public:
  MobileFaceNetBlockImpl(torch::nn::Sequential layers, bool residual);
  torch::Tensor forward(const torch::Tensor& x);

  const torch::nn::SequentialImpl& layers() const { return *layers_; }
  bool residual() const { return residual_; }

 private:
  torch::nn::Sequential layers_{nullptr};
  bool residual_;
};
TORCH_MODULE(MobileFaceNetBlock);

class MobileFaceNetImpl : public torch::nn::Module {
 public:
  // blocks: get_mbf's (1, 4, 6, 2) (a first entry of 1 puts a grouped ConvBlock after the stem,
  // more a Residual of that many DepthWise blocks; the others are the Residual stages' DepthWise
  // blocks); width_scale: get_mbf's scale (2: 128 and 256 channels). The input is [B, channels, S,
  // S] with S a multiple of 16 (the last map is S/16 square: GDC's depthwise kernel, 7 at 112); the
  // output the num_features embedding (after `features`' BatchNorm1d, not normalised).
  MobileFaceNetImpl(const std::vector<int>& blocks, int width_scale, int channels, int input_size,
                    int num_features);
  torch::Tensor forward(torch::Tensor x);

 private:
  // arcface_torch's `layers` is a ModuleList run in order: a Sequential has the same names.
  torch::nn::Sequential layers_{nullptr};
  MobileFaceNetBlock conv_sep_{nullptr};
  MobileFaceNetBlock features_{nullptr};  // GDC
};
TORCH_MODULE(MobileFaceNet);

}  // namespace ftl

#endif  // FTL_COMMON_MODEL_MOBILEFACENET_H_
