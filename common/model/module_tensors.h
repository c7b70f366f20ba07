// A module's weights as named tensors and back, by the module's own dotted names
// ("enc.body.0.weight", "enc.iresnet.bn1.running_mean"): the weights' half of a checkpoint and of
// a safetensors export. Parameters and buffers alike (batch-norm statistics are weights too).
#ifndef FTL_COMMON_MODEL_MODULE_TENSORS_H_
#define FTL_COMMON_MODEL_MODULE_TENSORS_H_

#include <torch/torch.h>

#include <map>
#include <string>

#include "absl/status/status.h"

namespace ftl {

// Every parameter and buffer of `module`, named prefix + name, detached (they share memory with
// the module: copy or serialise before training on).
std::map<std::string, torch::Tensor> ModuleTensors(const torch::nn::Module& module,
                                                   const std::string& prefix = "");

// Copies tensors[prefix + name] into every parameter and buffer of `module` (across devices).
// All or nothing: InvalidArgument, naming the entry and `source`, when one is missing, has another
// shape or dtype, or when `tensors` holds a name under `prefix` that the module lacks; the module
// is then unchanged.
absl::Status LoadModuleTensors(torch::nn::Module& module,
                               const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& prefix, const std::string& source);

}  // namespace ftl

#endif  // FTL_COMMON_MODEL_MODULE_TENSORS_H_
