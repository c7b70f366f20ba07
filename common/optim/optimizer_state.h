// A phase optimizer's state as named tensors and back, for checkpoints: nothing but tensors (no
// LibTorch archive, which is a TorchScript module and can carry code).
//
// Entries are "<parameter name>/<field>" for each parameter that has state: Adam's "step" (int64,
// one element), "exp_avg", "exp_avg_sq" and, with amsgrad, "max_exp_avg_sq"; SGD's
// "momentum_buffer" (only with momentum). Options (learning rate, betas, momentum, weight decay)
// are not saved: the job's config sets them and the phase's step counter sets the learning rate
// of every step (common/optim/optimizer.h).
#ifndef FTL_COMMON_OPTIM_OPTIMIZER_STATE_H_
#define FTL_COMMON_OPTIM_OPTIMIZER_STATE_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "absl/status/status.h"

namespace ftl {

using NamedParameters = torch::OrderedDict<std::string, torch::Tensor>;

// The state of `optimizer` (Adam or SGD, from MakeOptimizer) for its parameters, named by
// `names` (a module's named_parameters(), which must hold every parameter of the optimizer).
std::map<std::string, torch::Tensor> OptimizerStateTensors(const torch::optim::Optimizer& optimizer,
                                                           const NamedParameters& names);

// Replaces the state of `optimizer` with that in `tensors` (as OptimizerStateTensors wrote it),
// each tensor moved to its parameter's device. All or nothing: InvalidArgument, naming the entry
// and `source`, for an entry of no parameter of the optimizer, a missing field or another shape.
absl::Status LoadOptimizerStateTensors(torch::optim::Optimizer& optimizer,
                                       const NamedParameters& names,
                                       const std::map<std::string, torch::Tensor>& tensors,
                                       const std::string& source);

}  // namespace ftl

#endif  // FTL_COMMON_OPTIM_OPTIMIZER_STATE_H_
