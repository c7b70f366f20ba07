#include "common/comm/gradient_buckets.h"

#include <chrono>

namespace ftl {

GradientAverager::GradientAverager(std::vector<torch::Tensor> parameters, int64_t bucket_bytes)
    : parameters_(std::move(parameters)) {
  int64_t filled = 0;
  for (int i = 0; i < static_cast<int>(parameters_.size()); ++i) {
    const int64_t bytes = parameters_[i].numel() * parameters_[i].element_size();
    if (buckets_.empty() || (filled > 0 && filled + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().push_back(i);
    filled += bytes;
  }
}

void GradientAverager::Average(Communicator& comm) {
  if (comm.size() == 1) return;
  const auto start = std::chrono::steady_clock::now();
  const double scale = 1.0 / comm.size();
  for (const std::vector<int>& bucket : buckets_) {
    std::vector<torch::Tensor> grads;
    for (int i : bucket) {
      torch::Tensor& p = parameters_[i];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad().view(-1));
    }
    std::vector<torch::Tensor> flat = {torch::cat(grads)};
    comm.AllReduceSum(flat);
    flat[0].mul_(scale);
    int64_t offset = 0;
    for (int i : bucket) {
      torch::Tensor& g = parameters_[i].mutable_grad();
      g.view(-1).copy_(flat[0].slice(0, offset, offset + g.numel()));
      offset += g.numel();
    }
    stats_.calls += 1;
    stats_.bytes += flat[0].numel() * flat[0].element_size();
  }
  stats_.seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace ftl
