#include "common/ftl/losses.h"

namespace ftl {

torch::Tensor ReconstructionLoss(const torch::Tensor& reconstruction, const torch::Tensor& image,
                                 Reduction reduction) {
  const torch::Tensor squared = (reconstruction - image).pow(2);
  if (reduction == Reduction::kMean) return squared.mean();
  return squared.flatten(1).sum(1).mean();
}

torch::Tensor SoftmaxLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                          const torch::Tensor& log_prior, double tau) {
  const torch::Tensor adjusted =
      (log_prior.defined() && tau != 0.0) ? logits + tau * log_prior.to(logits.dtype()) : logits;
  return torch::nll_loss(torch::log_softmax(adjusted, /*dim=*/1), labels);
}

torch::Tensor MetricL2Loss(const torch::Tensor& logits, Reduction reduction) {
  const torch::Tensor squared = logits.pow(2);
  return reduction == Reduction::kMean ? squared.mean() : squared.sum(1).mean();
}

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
