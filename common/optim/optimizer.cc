#include "common/optim/optimizer.h"

#include <algorithm>
#include <cmath>

namespace ftl {

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const std::vector<torch::Tensor>& params,
                                                       const OptimizerConfig& config, double lr) {
  if (config.kind == OptimizerKind::kSgd) {
    return std::make_unique<torch::optim::SGD>(params, torch::optim::SGDOptions(lr)
                                                           .momentum(config.momentum)
                                                           .nesterov(config.nesterov)
                                                           .weight_decay(config.weight_decay));
  }
  return std::make_unique<torch::optim::Adam>(
      params, torch::optim::AdamOptions(lr).weight_decay(config.weight_decay));
}

double ScheduledLearningRate(const OptimizerConfig& config, double lr, int64_t step,
                             int64_t total_steps) {
  const int64_t warmup = config.warmup_iterations;
  if (step < warmup) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double span = static_cast<double>(std::max<int64_t>(1, total_steps - warmup));
  const double p = std::clamp(static_cast<double>(step - warmup) / span, 0.0, 1.0);
  switch (config.schedule) {
    case LrSchedule::kConstant:
      return lr;
    case LrSchedule::kPoly:
      return lr * std::pow(1.0 - p, config.poly_power);
    case LrSchedule::kCosine:
      return lr * 0.5 * (1.0 + std::cos(M_PI * p));
  }
  return lr;
}

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    group.options().set_lr(lr);
  }
}

double ClipGradientNorm(torch::optim::Optimizer& optimizer, double max_norm) {
  std::vector<torch::Tensor> params;
  for (const torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    for (const torch::Tensor& p : group.params()) {
      if (p.grad().defined()) params.push_back(p);
    }
  }
  if (params.empty()) return 0.0;
  return torch::nn::utils::clip_grad_norm_(params, max_norm);
}

double ClipGradientNorm(torch::optim::Optimizer& optimizer, double max_norm,
                        const std::vector<torch::Tensor>& split,
                        const std::function<double(double)>& sum_across_ranks) {
  torch::NoGradGuard no_grad;
  auto is_split = [&split](const torch::Tensor& p) {
    for (const torch::Tensor& s : split) {
      if (s.is_same(p)) return true;
    }
    return false;
  };
  std::vector<torch::Tensor> grads;
  double same_everywhere = 0.0;
  double own = 0.0;
  for (const torch::optim::OptimizerParamGroup& group : optimizer.param_groups()) {
    for (const torch::Tensor& p : group.params()) {
      if (!p.grad().defined()) continue;
      grads.push_back(p.grad());
      const double squared = p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
      (is_split(p) ? own : same_everywhere) += squared;
    }
  }
  // Before any early return: the other ranks are in the same collective.
  const double norm = std::sqrt(same_everywhere + sum_across_ranks(own));
  // torch.nn.utils.clip_grad_norm_'s rule.
  const double scale = max_norm / (norm + 1e-6);
  if (scale < 1.0) {
    for (torch::Tensor& g : grads) g.mul_(scale);
  }
  return norm;
}

}  // namespace ftl
