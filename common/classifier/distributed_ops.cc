#include "common/classifier/distributed_ops.h"

#include <algorithm>
#include <vector>

namespace ftl {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Autograd keeps non-tensor arguments in saved_data as IValues: the communicator by address.
int64_t Address(Communicator& comm) { return reinterpret_cast<int64_t>(&comm); }
Communicator& CommOf(AutogradContext* ctx) {
  return *reinterpret_cast<Communicator*>(ctx->saved_data["comm"].toInt());
}

struct GatherRowsFunction : torch::autograd::Function<GatherRowsFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& local, int64_t comm) {
    ctx->saved_data["comm"] = comm;
    return reinterpret_cast<Communicator*>(comm)->AllGather(local.contiguous());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    Communicator& comm = CommOf(ctx);
    const torch::Tensor block = comm.ReduceScatterSum(grads[0].contiguous());
    return {block * static_cast<double>(comm.size()), torch::Tensor()};
  }
};

struct SumAcrossRanksFunction : torch::autograd::Function<SumAcrossRanksFunction> {
  static torch::Tensor forward(AutogradContext* /*ctx*/, const torch::Tensor& x, int64_t comm) {
    std::vector<torch::Tensor> sum = {x.contiguous().clone()};
    reinterpret_cast<Communicator*>(comm)->AllReduceSum(sum);
    return sum[0];
  }
  static variable_list backward(AutogradContext* /*ctx*/, variable_list grads) {
    return {grads[0], torch::Tensor()};
  }
};

}  // namespace

torch::Tensor GatherRows(const torch::Tensor& local, Communicator& comm) {
  return GatherRowsFunction::apply(local, Address(comm));
}

torch::Tensor SumAcrossRanks(const torch::Tensor& x, Communicator& comm) {
  return SumAcrossRanksFunction::apply(x, Address(comm));
}

std::pair<torch::Tensor, int64_t> GatherUnevenRows(const torch::Tensor& rows, Communicator& comm) {
  const torch::Tensor counts = comm.AllGather(torch::tensor({rows.size(0)}, torch::kInt64));
  const auto n = counts.accessor<int64_t, 1>();
  int64_t widest = 0, first = 0;
  for (int r = 0; r < comm.size(); ++r) {
    widest = std::max(widest, n[r]);
    if (r < comm.rank()) first += n[r];
  }
  // Padded to the widest (AllGather takes one shape), then each rank's real rows.
  std::vector<int64_t> shape = rows.sizes().vec();
  shape[0] = widest;
  torch::Tensor padded = torch::zeros(shape, rows.options());
  padded.slice(0, 0, rows.size(0)).copy_(rows);
  const torch::Tensor gathered = comm.AllGather(padded);
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < comm.size(); ++r) {
    parts.push_back(gathered.slice(0, r * widest, r * widest + n[r]));
  }
  return {torch::cat(parts), first};
}

torch::Tensor ColumnsIn(const ClassRange& range, const torch::Tensor& labels) {
  const torch::Tensor here = (labels >= range.start) & (labels < range.end());
  return torch::where(here, labels - range.start, torch::full_like(labels, -1));
}

torch::Tensor ShardedSoftmaxLoss(const torch::Tensor& local_logits, const torch::Tensor& labels,
                                 const ClassRange& range, Communicator& comm,
                                 const torch::Tensor& class_weights) {
  TORCH_CHECK(local_logits.dim() == 2 && local_logits.size(1) == range.count,
              "ShardedSoftmaxLoss: logits [RB, n_r] of this rank's classes");
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == local_logits.size(0),
              "ShardedSoftmaxLoss: one label per row");
  const torch::Tensor y = labels.to(local_logits.device(), torch::kInt64);
  // The row maxima over every class, for a stable exponential. A constant to autograd: the loss
  // m + log sum exp(z - m) does not depend on m.
  torch::Tensor row_max;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> maxima = {std::get<0>(local_logits.max(1)).contiguous()};
    comm.AllReduceMax(maxima);
    row_max = maxima[0];
  }
  const torch::Tensor exp_sums = (local_logits - row_max.unsqueeze(1)).exp().sum(1);
  // Each row's target logit lives on the rank owning its class; the others add 0.
  const torch::Tensor columns = ColumnsIn(range, y);
  const torch::Tensor targets = torch::where(
      columns >= 0, local_logits.gather(1, columns.clamp_min(0).unsqueeze(1)).squeeze(1),
      torch::zeros_like(exp_sums));
  const torch::Tensor summed = SumAcrossRanks(torch::stack({exp_sums, targets}), comm);
  const torch::Tensor per_row = row_max + summed[0].log() - summed[1];
  if (!class_weights.defined()) return per_row.mean();
  return (per_row * class_weights.to(per_row.device(), per_row.scalar_type()).index_select(0, y))
      .mean();
}

torch::Tensor ShardedMetricL2Loss(const torch::Tensor& local_logits, int64_t num_classes,
                                  Reduction reduction, Communicator& comm) {
  const torch::Tensor total = SumAcrossRanks(local_logits.pow(2).sum().reshape({1}), comm)[0];
  const double rows = static_cast<double>(local_logits.size(0));
  return reduction == Reduction::kMean ? total / (rows * static_cast<double>(num_classes))
                                       : total / rows;
}

}  // namespace ftl
