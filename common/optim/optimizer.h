// A phase's optimizer (Adam or SGD) and its learning-rate schedule, from an OptimizerConfig.
//
// The schedule is a pure function of the phase's step counter, which checkpoints already carry:
// a resumed job sets the same learning rate at every step as one that never stopped.
#ifndef FTL_COMMON_OPTIM_OPTIMIZER_H_
#define FTL_COMMON_OPTIM_OPTIMIZER_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/config/job_config.h"

namespace ftl {

// torch::optim::Adam or SGD over `params` at learning rate `lr`, with the config's momentum,
// Nesterov flag and weight decay.
std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const std::vector<torch::Tensor>& params,
                                                       const OptimizerConfig& config, double lr);

// The learning rate of 0-based step `step` of a phase of `total_steps`: a linear warm-up
// lr (step + 1) / W over the first W = warmup_iterations steps, then constant, poly
// (lr (1 - p)^power) or cosine (lr (1 + cos(pi p)) / 2) with p = (step - W) / (total_steps - W)
// clamped to [0, 1].
double ScheduledLearningRate(const OptimizerConfig& config, double lr, int64_t step,
                             int64_t total_steps);

// Sets the learning rate of every parameter group.
void SetLearningRate(torch::optim::Optimizer& optimizer, double lr);

// Scales the gradients of `optimizer`'s parameters so that their global L2 norm is at most
// `max_norm` (torch.nn.utils.clip_grad_norm_); returns the norm before clipping.
double ClipGradientNorm(torch::optim::Optimizer& optimizer, double max_norm);

// The same for a model split across ranks: the parameters in `split` hold different rows on each
// rank (a sharded classifier's), the others the same values everywhere. Their squared gradient
// norm is summed across ranks by `sum_across_ranks` (a collective: every rank calls it once), so
// that every rank scales by the norm of the whole model's gradient, as one process holding it all
// would.
double ClipGradientNorm(torch::optim::Optimizer& optimizer, double max_norm,
                        const std::vector<torch::Tensor>& split,
                        const std::function<double(double)>& sum_across_ranks);

}  // namespace ftl

#endif  // FTL_COMMON_OPTIM_OPTIMIZER_H_
