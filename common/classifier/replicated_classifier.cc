#include "common/classifier/replicated_classifier.h"

#include "common/classifier/margin_head.h"
#include "common/ftl/losses.h"
#include "common/model/autocast.h"
#include "common/model/module_tensors.h"

namespace ftl {
namespace {

constexpr char kPrefix[] = "classifier.";

}  // namespace

ReplicatedClassifier::ReplicatedClassifier(int64_t feature_dim, int64_t num_classes,
                                           const LossWeights& loss,
                                           const torch::Tensor& class_counts, torch::Device device,
                                           bool bf16_autocast)
    : fc_(torch::nn::LinearOptions(feature_dim, num_classes).bias(false)),
      loss_(loss),
      autocast_(bf16_autocast) {
  fc_->to(device);
  ClassLossTensors tensors = ClassLossTensorsOf(loss, class_counts, num_classes, device);
  log_prior_ = std::move(tensors.log_prior);
  class_weights_ = std::move(tensors.class_weights);
}

torch::Tensor ReplicatedClassifier::Logits(const torch::Tensor& f, const torch::Tensor& labels) {
  if (loss_.head.kind == HeadKind::kSoftmax) return fc_->forward(f);
  return MarginHeadLogits(f, fc_->weight, labels, loss_.head);
}

ClassificationTerms ReplicatedClassifier::Losses(const torch::Tensor& f,
                                                 const torch::Tensor& labels) {
  torch::Tensor logits;
  {
    Bf16AutocastScope autocast_scope(autocast_);
    logits = Logits(f, labels).to(torch::kFloat32);
  }
  ClassificationTerms terms;
  terms.sfmx = SoftmaxLoss(logits, labels, log_prior_, loss_.logit_adjust_tau, class_weights_);
  // m-L2 belongs to the softmax head's free logits; a margin head's are s cos(theta).
  if (loss_.head.kind == HeadKind::kSoftmax) terms.reg = MetricL2Loss(logits, loss_.ml2_reduction);
  return terms;
}

ClassPrediction ReplicatedClassifier::Predict(const torch::Tensor& f) {
  torch::NoGradGuard no_grad;
  // float32, outside autocast, whatever precision f was computed in.
  const torch::Tensor logits = Logits(f.to(torch::kFloat32));
  ClassPrediction out;
  out.label = logits.argmax(1);
  out.probability = std::get<0>(torch::softmax(logits, 1).max(1));
  return out;
}

torch::Tensor ReplicatedClassifier::WeightNorms() const {
  torch::NoGradGuard no_grad;
  return fc_->weight.norm(2, 1).cpu();
}

torch::OrderedDict<std::string, torch::Tensor> ReplicatedClassifier::named_parameters() const {
  torch::OrderedDict<std::string, torch::Tensor> out;
  for (const auto& p : fc_->named_parameters()) out.insert(kPrefix + p.key(), p.value());
  return out;
}

void ReplicatedClassifier::SetTrainable(bool trainable) {
  for (torch::Tensor& p : fc_->parameters()) p.set_requires_grad(trainable);
}

std::map<std::string, torch::Tensor> ReplicatedClassifier::CheckpointTensors() const {
  return ModuleTensors(*fc_, kPrefix);
}

absl::Status ReplicatedClassifier::LoadCheckpointTensors(
    const std::map<std::string, torch::Tensor>& tensors, const std::string& source) {
  return LoadModuleTensors(*fc_, tensors, kPrefix, source);
}

}  // namespace ftl
