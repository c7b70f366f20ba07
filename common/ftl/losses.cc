#include "common/ftl/losses.h"

namespace ftl {

torch::Tensor ReconstructionLoss(const torch::Tensor& reconstruction, const torch::Tensor& image,
                                 Reduction reduction) {
  const torch::Tensor squared = (reconstruction - image).pow(2);
  if (reduction == Reduction::kMean) return squared.mean();
  return squared.flatten(1).sum(1).mean();
}

torch::Tensor SoftmaxLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                          const torch::Tensor& log_prior, double tau,
                          const torch::Tensor& class_weights) {
  const torch::Tensor adjusted =
      (log_prior.defined() && tau != 0.0) ? logits + tau * log_prior.to(logits.dtype()) : logits;
  const torch::Tensor log_p = torch::log_softmax(adjusted, /*dim=*/1);
  if (!class_weights.defined()) return torch::nll_loss(log_p, labels);
  // Not nll_loss(weight=): that divides by the batch's weight sum, which undoes the weighting of
  // a batch of one class; Cui et al. average the weighted losses over the batch.
  const torch::Tensor per_image = -log_p.gather(1, labels.unsqueeze(1)).squeeze(1);
  return (per_image * class_weights.to(logits.dtype()).index_select(0, labels)).mean();
}

torch::Tensor ClassBalancedWeights(const torch::Tensor& counts, double beta) {
  const torch::Tensor n = counts.to(torch::kFloat64).clamp_min(1.0);
  const torch::Tensor w = (1.0 - beta) / (1.0 - torch::pow(beta, n));
  return (w * (static_cast<double>(n.numel()) / w.sum())).to(torch::kFloat32);
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

ClassLossTensors ClassLossTensorsOf(const LossWeights& loss, const torch::Tensor& class_counts,
                                    int64_t num_classes, torch::Device device) {
  const bool needs_counts = loss.logit_adjust_tau > 0 || loss.class_balanced_beta > 0;
  TORCH_CHECK(!needs_counts || (class_counts.defined() && class_counts.numel() == num_classes),
              "logit adjustment and the class-balanced loss need each class's image count");
  ClassLossTensors out;
  if (loss.logit_adjust_tau > 0) {
    const torch::Tensor counts = class_counts.to(torch::kFloat64).clamp_min(1.0);
    out.log_prior = torch::log(counts / counts.sum()).to(torch::kFloat32).to(device);
  }
  if (loss.class_balanced_beta > 0) {
    out.class_weights = ClassBalancedWeights(class_counts, loss.class_balanced_beta).to(device);
  }
  return out;
}

}  // namespace ftl
