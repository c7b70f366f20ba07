#include "common/optim/optimizer_state.h"

#include <memory>
#include <sstream>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace ftl {
namespace {

// The key torch::optim keeps a parameter's state under: its TensorImpl's address, as a pointer
// (LibTorch 2) or as the text c10::guts::to_string makes of it (LibTorch 1.13, Debian's).
template <typename StateMap>
typename StateMap::key_type StateKey(const StateMap&, const torch::Tensor& p) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << p.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

std::vector<torch::Tensor> Params(const torch::optim::Optimizer& optimizer) {
  std::vector<torch::Tensor> params;
  for (const auto& group : optimizer.param_groups()) {
    params.insert(params.end(), group.params().begin(), group.params().end());
  }
  return params;
}

std::unordered_map<const void*, std::string> NamesByTensor(const NamedParameters& names) {
  std::unordered_map<const void*, std::string> by_tensor;
  for (const auto& p : names) by_tensor[p.value().unsafeGetTensorImpl()] = p.key();
  return by_tensor;
}

torch::Tensor Cpu(const torch::Tensor& t) { return t.detach().to(torch::kCPU).clone(); }

}  // namespace

std::map<std::string, torch::Tensor> OptimizerStateTensors(const torch::optim::Optimizer& optimizer,
                                                           const NamedParameters& names) {
  const auto by_tensor = NamesByTensor(names);
  const auto& state = optimizer.state();
  std::map<std::string, torch::Tensor> out;
  for (const torch::Tensor& p : Params(optimizer)) {
    const auto it = state.find(StateKey(state, p));
    if (it == state.end()) continue;
    const std::string name = by_tensor.at(p.unsafeGetTensorImpl());
    if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(it->second.get())) {
      out[name + "/step"] = torch::tensor({adam->step()}, torch::kInt64);
      out[name + "/exp_avg"] = Cpu(adam->exp_avg());
      out[name + "/exp_avg_sq"] = Cpu(adam->exp_avg_sq());
      if (adam->max_exp_avg_sq().defined()) {
        out[name + "/max_exp_avg_sq"] = Cpu(adam->max_exp_avg_sq());
      }
    } else if (const auto* sgd =
                   dynamic_cast<const torch::optim::SGDParamState*>(it->second.get())) {
      if (sgd->momentum_buffer().defined()) {
        out[name + "/momentum_buffer"] = Cpu(sgd->momentum_buffer());
      }
    }
  }
  return out;
}

absl::Status LoadOptimizerStateTensors(torch::optim::Optimizer& optimizer,
                                       const NamedParameters& names,
                                       const std::map<std::string, torch::Tensor>& tensors,
                                       const std::string& source) {
  const auto by_tensor = NamesByTensor(names);
  const bool adam = dynamic_cast<torch::optim::Adam*>(&optimizer) != nullptr;
  std::map<std::string, torch::Tensor> of_name;  // this optimizer's parameters by name
  for (const torch::Tensor& p : Params(optimizer)) {
    of_name[by_tensor.at(p.unsafeGetTensorImpl())] = p;
  }
  std::map<std::string, std::map<std::string, torch::Tensor>> fields;  // parameter -> field
  for (const auto& [entry, tensor] : tensors) {
    const size_t slash = entry.rfind('/');
    const std::string name = entry.substr(0, slash);
    if (slash == std::string::npos || of_name.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": optimizer entry '", entry, "' is of no parameter it trains"));
    }
    fields[name][entry.substr(slash + 1)] = tensor;
  }
  // Checked first, then applied: a refused file leaves the optimizer as it was.
  auto moment = [&](const std::map<std::string, torch::Tensor>& f, const std::string& name,
                    const char* field, const torch::Tensor& p,
                    bool required) -> absl::StatusOr<torch::Tensor> {
    const auto it = f.find(field);
    if (it == f.end()) {
      if (!required) return torch::Tensor();
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": optimizer state of '", name, "' lacks '", field, "'"));
    }
    if (!it->second.sizes().equals(p.sizes()) || it->second.scalar_type() != p.scalar_type()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": optimizer '", name, "/", field,
                                                     "' does not have its parameter's shape"));
    }
    return it->second.to(p.device());
  };
  std::vector<std::pair<torch::Tensor, std::unique_ptr<torch::optim::OptimizerParamState>>> loaded;
  for (const auto& [name, f] : fields) {
    const torch::Tensor& p = of_name[name];
    for (const auto& [field, unused] : f) {
      const bool known = adam ? (field == "step" || field == "exp_avg" || field == "exp_avg_sq" ||
                                 field == "max_exp_avg_sq")
                              : field == "momentum_buffer";
      if (!known) {
        return absl::InvalidArgumentError(absl::StrCat(source, ": optimizer entry '", name, "/",
                                                       field, "' is not ", adam ? "Adam" : "SGD",
                                                       " state"));
      }
    }
    if (adam) {
      const auto step = f.find("step");
      if (step == f.end() || step->second.numel() != 1 ||
          step->second.scalar_type() != torch::kInt64 || step->second.item<int64_t>() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": optimizer state of '", name, "' lacks a valid 'step'"));
      }
      auto state = std::make_unique<torch::optim::AdamParamState>();
      state->step(step->second.item<int64_t>());
      absl::StatusOr<torch::Tensor> m = moment(f, name, "exp_avg", p, true);
      absl::StatusOr<torch::Tensor> v = moment(f, name, "exp_avg_sq", p, true);
      absl::StatusOr<torch::Tensor> v_max = moment(f, name, "max_exp_avg_sq", p, false);
      for (const auto* s : {&m, &v, &v_max}) {
        if (!s->ok()) return s->status();
      }
      state->exp_avg(*m);
      state->exp_avg_sq(*v);
      if (v_max->defined()) state->max_exp_avg_sq(*v_max);
      loaded.emplace_back(p, std::move(state));
    } else {
      absl::StatusOr<torch::Tensor> buffer = moment(f, name, "momentum_buffer", p, true);
      if (!buffer.ok()) return buffer.status();
      auto state = std::make_unique<torch::optim::SGDParamState>();
      state->momentum_buffer(*buffer);
      loaded.emplace_back(p, std::move(state));
    }
  }
  auto& state = optimizer.state();
  state.clear();
  for (auto& [p, s] : loaded) state[StateKey(state, p)] = std::move(s);
  return absl::OkStatus();
}

}  // namespace ftl
