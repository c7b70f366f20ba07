#include "common/ftl/losses.h"

namespace ftl {

torch::Tensor ReconstructionLoss(const torch::Tensor& reconstruction, const torch::Tensor& image) {
  return (reconstruction - image).pow(2).mean();
}

torch::Tensor SoftmaxLoss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nll_loss(torch::log_softmax(logits, /*dim=*/1), labels);
}

torch::Tensor MetricL2Loss(const torch::Tensor& logits) { return logits.pow(2).sum(1).mean(); }

LossTerms CombineLosses(const LossWeights& weights, const torch::Tensor& sfmx,
                        const torch::Tensor& recon, const torch::Tensor& reg) {
  LossTerms terms{sfmx, recon, reg, torch::Tensor()};
  auto add = [&terms](double weight, const torch::Tensor& term) {
    if (!term.defined() || weight == 0.0) return;
    torch::Tensor weighted = term * weight;
    terms.total = terms.total.defined() ? terms.total + weighted : weighted;
  };
  add(weights.sfmx, sfmx);
  add(weights.recon, recon);
  add(weights.reg, reg);
  return terms;
}

}  // namespace ftl
