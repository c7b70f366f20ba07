#include "common/data/sampler.h"

#include <algorithm>
#include <random>

namespace ftl {
namespace {

std::mt19937_64 StreamRng(uint64_t seed, SampleStream stream, int64_t counter) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(stream), static_cast<uint32_t>(counter),
                    static_cast<uint32_t>(static_cast<uint64_t>(counter) >> 32)};
  return std::mt19937_64(seq);
}

}  // namespace

EpochSampler::EpochSampler(torch::Tensor pool, uint64_t seed, SampleStream stream)
    : pool_(pool.to(torch::kCPU, torch::kInt64).contiguous()), seed_(seed), stream_(stream) {
  pool_values_.assign(pool_.data_ptr<int64_t>(), pool_.data_ptr<int64_t>() + pool_.numel());
}

const std::vector<int64_t>& EpochSampler::Permutation(int64_t epoch) {
  if (epoch != cached_epoch_) {
    cached_permutation_ = pool_values_;
    std::mt19937_64 rng = StreamRng(seed_, stream_, epoch);
    std::shuffle(cached_permutation_.begin(), cached_permutation_.end(), rng);
    cached_epoch_ = epoch;
  }
  return cached_permutation_;
}

torch::Tensor EpochSampler::Batch(int64_t step, int64_t size) {
  const int64_t n = pool_size();
  if (n == 0) return torch::empty({0}, torch::kInt64);
  std::vector<int64_t> out(size);
  for (int64_t i = 0; i < size; ++i) {
    const int64_t position = step * size + i;
    out[i] = Permutation(position / n)[position % n];
  }
  return torch::tensor(out, torch::kInt64);
}

ClassBalancedSampler::ClassBalancedSampler(const torch::Tensor& labels,
                                           const std::vector<int64_t>& classes, uint64_t seed,
                                           SampleStream stream)
    : seed_(seed), stream_(stream) {
  std::vector<int64_t> slot(labels.numel() == 0 ? 0 : labels.max().item<int64_t>() + 1, -1);
  for (int64_t c : classes) {
    if (c < static_cast<int64_t>(slot.size())) {
      slot[c] = static_cast<int64_t>(members_.size());
      members_.emplace_back();
    }
  }
  const torch::Tensor y = labels.to(torch::kCPU, torch::kInt64).contiguous();  // read on the host
  const int64_t* p = y.data_ptr<int64_t>();
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (slot[p[i]] >= 0) members_[slot[p[i]]].push_back(i);
  }
  members_.erase(std::remove_if(members_.begin(), members_.end(),
                                [](const std::vector<int64_t>& m) { return m.empty(); }),
                 members_.end());
}

torch::Tensor ClassBalancedSampler::Batch(int64_t step, int64_t size) const {
  if (members_.empty()) return torch::empty({0}, torch::kInt64);
  std::mt19937_64 rng = StreamRng(seed_, stream_, step);
  std::vector<int64_t> out(size);
  for (int64_t i = 0; i < size; ++i) {
    const auto& m = members_[std::uniform_int_distribution<size_t>(0, members_.size() - 1)(rng)];
    out[i] = m[std::uniform_int_distribution<size_t>(0, m.size() - 1)(rng)];
  }
  return torch::tensor(out, torch::kInt64);
}

torch::Tensor RankSlice(const torch::Tensor& global_batch, int rank, int world) {
  const int64_t per_rank = global_batch.size(0) / world;
  return global_batch.slice(0, rank * per_rank, (rank + 1) * per_rank);
}

}  // namespace ftl
