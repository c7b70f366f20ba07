// Deterministic batch sampling. A batch is a pure function of (seed, stream, step): every rank
// draws the same global batch and keeps its slice, and resuming needs only the step counter.
#ifndef FTL_COMMON_DATA_SAMPLER_H_
#define FTL_COMMON_DATA_SAMPLER_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace ftl {

// Independent random streams, one per use.
enum class SampleStream : uint64_t {
  kPretrain = 1,
  kStageOneHard = 2,
  kStageOneUr = 3,
  kStageTwo = 4,
  kStageOneSecondUr = 5,  // training.stage1_third_batch "ur": a second, independent UR batch
};

// Without replacement within an epoch: global positions [step*size, (step+1)*size) of the
// sequence of per-epoch permutations of `pool`. Uniform sampling over all data is a pool of all
// indices; the hard-list sampler is a pool of the hard samples.
class EpochSampler {
 public:
  EpochSampler() = default;
  // pool: [n] int64 sample indices (n may be 0: Batch then returns an empty tensor).
  EpochSampler(torch::Tensor pool, uint64_t seed, SampleStream stream);

  torch::Tensor Batch(int64_t step, int64_t size);
  int64_t pool_size() const { return pool_.defined() ? pool_.size(0) : 0; }

 private:
  const std::vector<int64_t>& Permutation(int64_t epoch);

  torch::Tensor pool_;
  std::vector<int64_t> pool_values_;
  uint64_t seed_ = 0;
  SampleStream stream_ = SampleStream::kPretrain;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> cached_permutation_;
};

// Class-balanced over `classes` (e.g. the UR classes): each draw picks one of them uniformly, then
// one of its samples uniformly (with replacement), as class-balanced re-sampling does.
class ClassBalancedSampler {
 public:
  ClassBalancedSampler() = default;
  // labels: [N] int64 of the whole dataset; classes: the class ids to draw from.
  ClassBalancedSampler(const torch::Tensor& labels, const std::vector<int64_t>& classes,
                       uint64_t seed, SampleStream stream);

  // Returns [size] sample indices, or an empty tensor when there is no class to draw from.
  torch::Tensor Batch(int64_t step, int64_t size) const;
  bool empty() const { return members_.empty(); }

 private:
  std::vector<std::vector<int64_t>> members_;  // per drawable class
  uint64_t seed_ = 0;
  SampleStream stream_ = SampleStream::kStageOneUr;
};

// Rank `rank`'s share of a global batch of world * B entries: rows [rank*B, (rank+1)*B).
torch::Tensor RankSlice(const torch::Tensor& global_batch, int rank, int world);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_SAMPLER_H_
