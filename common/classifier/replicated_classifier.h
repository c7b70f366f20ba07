// The classifier held whole on every rank: a bias-free N_c x D linear layer whose gradients the
// trainer averages across ranks with the backbone's, so that R ranks of batch B train exactly as
// one of batch R*B.
#ifndef FTL_COMMON_CLASSIFIER_REPLICATED_CLASSIFIER_H_
#define FTL_COMMON_CLASSIFIER_REPLICATED_CLASSIFIER_H_

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <string>

#include "common/classifier/classifier.h"
#include "common/config/job_config.h"

namespace ftl {

class ReplicatedClassifier final : public Classifier {
 public:
  // W [num_classes, feature_dim], initialised as nn::Linear's weight from torch's global generator
  // (the trainer builds it right after the network, from the same seeded stream), then moved to
  // `device`. `class_counts` ([N_c] training images per class) must be given when
  // loss.logit_adjust_tau or loss.class_balanced_beta is positive. With `bf16_autocast` (CUDA)
  // the logits are computed under bf16 autocast, the losses in float32.
  ReplicatedClassifier(int64_t feature_dim, int64_t num_classes, const LossWeights& loss,
                       const torch::Tensor& class_counts = torch::Tensor(),
                       torch::Device device = torch::kCPU, bool bf16_autocast = false);

  // W f for the softmax head; for a margin head s cos(theta_j) (f and each W_j normalised, in
  // float32), with the target's margin where `labels` is given (training), without it where not.
  torch::Tensor Logits(const torch::Tensor& f, const torch::Tensor& labels = torch::Tensor());
  // W itself (a parameter).
  const torch::Tensor& weight() const { return fc_->weight; }

  int64_t num_classes() const override { return fc_->weight.size(0); }
  ClassificationTerms Losses(const torch::Tensor& f, const torch::Tensor& labels) override;
  ClassPrediction Predict(const torch::Tensor& f) override;
  torch::Tensor WeightNorms() const override;
  torch::OrderedDict<std::string, torch::Tensor> named_parameters() const override;
  bool averages_gradients() const override { return true; }
  torch::Tensor EveryClassRows(const torch::Tensor& own_rows) const override { return own_rows; }
  torch::Tensor OwnRows(const torch::Tensor& every_class_rows) const override {
    return every_class_rows;
  }
  void SetTrainable(bool trainable) override;
  std::map<std::string, torch::Tensor> CheckpointTensors() const override;
  absl::Status LoadCheckpointTensors(const std::map<std::string, torch::Tensor>& tensors,
                                     const std::string& source) override;

 private:
  torch::nn::Linear fc_{nullptr};
  LossWeights loss_;
  bool autocast_;
  torch::Tensor log_prior_;      // [N_c] log class shares on the device (logit adjustment)
  torch::Tensor class_weights_;  // [N_c] class-balanced loss weights on the device (beta > 0)
};

}  // namespace ftl

#endif  // FTL_COMMON_CLASSIFIER_REPLICATED_CLASSIFIER_H_
