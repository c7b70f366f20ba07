#include "common/model/module_tensors.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ftl {
namespace {

std::vector<std::pair<std::string, torch::Tensor>> Named(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> named;
  for (const auto& p : module.named_parameters()) named.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers()) named.emplace_back(b.key(), b.value());
  return named;
}

std::string Sizes(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "] ", c10::toString(t.scalar_type()));
}

}  // namespace

std::map<std::string, torch::Tensor> ModuleTensors(const torch::nn::Module& module,
                                                   const std::string& prefix) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, tensor] : Named(module)) out[prefix + name] = tensor.detach();
  return out;
}

absl::Status LoadModuleTensors(torch::nn::Module& module,
                               const std::map<std::string, torch::Tensor>& tensors,
                               const std::string& prefix, const std::string& source) {
  const auto named = Named(module);
  std::map<std::string, const torch::Tensor*> wanted;
  for (const auto& [name, tensor] : named) {
    const auto it = tensors.find(prefix + name);
    if (it == tensors.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, " holds no '", prefix, name, "' (", Sizes(tensor), ")"));
    }
    if (!it->second.sizes().equals(tensor.sizes()) ||
        it->second.scalar_type() != tensor.scalar_type()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": '", prefix, name, "' is ",
                                                     Sizes(it->second), ", the model's is ",
                                                     Sizes(tensor)));
    }
    wanted[name] = &it->second;
  }
  for (auto it = tensors.lower_bound(prefix);
       it != tensors.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (wanted.count(it->first.substr(prefix.size())) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, " holds '", it->first, "', which this model does not have"));
    }
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : named) {
    torch::Tensor target = tensor;
    target.copy_(*wanted[name]);
  }
  return absl::OkStatus();
}

}  // namespace ftl
