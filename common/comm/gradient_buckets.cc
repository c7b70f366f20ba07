#include "common/comm/gradient_buckets.h"

#include <chrono>

namespace ftl {

struct GradientAverager::Bucket {
  std::vector<int> parameters;
  torch::Tensor flat;  // allocated on first use
  int64_t numel = 0;
  int ready = 0;  // gradients packed in this backward
  std::vector<bool> packed;
  std::unique_ptr<PendingAllReduce> pending;
};

GradientAverager::GradientAverager(std::vector<torch::Tensor> parameters, int64_t bucket_bytes,
                                   bool overlap)
    : parameters_(std::move(parameters)),
      bucket_of_(parameters_.size()),
      slot_of_(parameters_.size()),
      offset_of_(parameters_.size()),
      overlap_(overlap),
      self_(std::make_shared<GradientAverager*>(this)) {
  int64_t filled = 0;
  for (int i = static_cast<int>(parameters_.size()) - 1; i >= 0; --i) {
    const int64_t bytes = parameters_[i].numel() * parameters_[i].element_size();
    if (buckets_.empty() || (filled > 0 && filled + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      filled = 0;
    }
    Bucket& bucket = buckets_.back();
    bucket_of_[i] = static_cast<int>(buckets_.size()) - 1;
    slot_of_[i] = static_cast<int>(bucket.parameters.size());
    offset_of_[i] = bucket.numel;
    bucket.parameters.push_back(i);
    bucket.numel += parameters_[i].numel();
    filled += bytes;
  }
  for (Bucket& bucket : buckets_) bucket.packed.assign(bucket.parameters.size(), false);
  if (overlap_) {
    for (int i = 0; i < static_cast<int>(parameters_.size()); ++i) {
      parameters_[i].register_hook([self = self_, i](const torch::Tensor& grad) {
        if (*self != nullptr) (*self)->OnGradient(i, grad);
      });
    }
  }
}

GradientAverager::~GradientAverager() { *self_ = nullptr; }

int GradientAverager::num_buckets() const { return static_cast<int>(buckets_.size()); }

torch::Tensor& GradientAverager::Flat(Bucket& bucket) {
  // Allocated on first use: a one-rank job never needs it.
  if (!bucket.flat.defined()) {
    bucket.flat = torch::empty({bucket.numel}, parameters_[bucket.parameters[0]].options());
  }
  return bucket.flat;
}

void GradientAverager::BeginBackward(Communicator& comm) {
  if (!overlap_ || comm.size() == 1) return;
  armed_ = true;
  comm_ = &comm;
}

void GradientAverager::OnGradient(int parameter, const torch::Tensor& grad) {
  if (!armed_) return;  // a backward of another averager's step
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  const int slot = slot_of_[parameter];
  if (bucket.packed[slot]) return;
  const torch::Tensor& p = parameters_[parameter];
  Flat(bucket)
      .slice(0, offset_of_[parameter], offset_of_[parameter] + p.numel())
      .copy_(grad.reshape(-1));
  bucket.packed[slot] = true;
  if (++bucket.ready == static_cast<int>(bucket.parameters.size())) {
    bucket.pending = comm_->StartAllReduceSum(bucket.flat);
    ++stats_.buckets_started_in_backward;
  }
  // Open MPI progresses non-blocking collectives only inside MPI calls.
  for (Bucket& other : buckets_) {
    if (other.pending) other.pending->Test();
  }
}

void GradientAverager::FinishBackward(Communicator& comm) {
  armed_ = false;
  comm_ = nullptr;
  if (comm.size() == 1) return;
  const auto start = std::chrono::steady_clock::now();
  for (Bucket& bucket : buckets_) {
    if (bucket.pending) continue;
    for (size_t slot = 0; slot < bucket.parameters.size(); ++slot) {
      if (bucket.packed[slot]) continue;
      const int i = bucket.parameters[slot];
      torch::Tensor part =
          Flat(bucket).slice(0, offset_of_[i], offset_of_[i] + parameters_[i].numel());
      if (parameters_[i].grad().defined()) {
        part.copy_(parameters_[i].grad().reshape(-1));
      } else {
        part.zero_();
      }
    }
    bucket.pending = comm.StartAllReduceSum(bucket.flat);
  }
  const double scale = 1.0 / comm.size();
  for (Bucket& bucket : buckets_) {
    bucket.pending->Wait();
    bucket.pending.reset();
    bucket.flat.mul_(scale);
    for (int i : bucket.parameters) {
      torch::Tensor& p = parameters_[i];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      // Packed in logical order (reshape(-1)), so unpacked by shape: right for channels-last too.
      p.mutable_grad().copy_(
          bucket.flat.slice(0, offset_of_[i], offset_of_[i] + p.numel()).view(p.sizes()));
    }
    bucket.ready = 0;
    bucket.packed.assign(bucket.parameters.size(), false);
    stats_.calls += 1;
    stats_.bytes += bucket.numel * bucket.flat.element_size();
  }
  stats_.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace ftl
