// Gradient averaging across ranks with tensor fusion (as DDP's buckets and Horovod's fusion
// buffer): gradients are packed into flat buckets of about `bucket_bytes`, each bucket is one
// all-reduce, and the result is divided by the number of ranks.
#ifndef FTL_COMMON_COMM_GRADIENT_BUCKETS_H_
#define FTL_COMMON_COMM_GRADIENT_BUCKETS_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "common/comm/communicator.h"

namespace ftl {

struct AllReduceStats {
  int64_t calls = 0;
  int64_t bytes = 0;
  double seconds = 0.0;
};

class GradientAverager {
 public:
  // parameters: the tensors whose .grad() to average (fixed order on every rank).
  GradientAverager(std::vector<torch::Tensor> parameters, int64_t bucket_bytes);

  // Averages the gradients across ranks, in place. A parameter without a gradient counts as zero.
  void Average(Communicator& comm);

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  const AllReduceStats& stats() const { return stats_; }

 private:
  std::vector<torch::Tensor> parameters_;
  std::vector<std::vector<int>> buckets_;  // parameter indices per bucket
  AllReduceStats stats_;
};

}  // namespace ftl

#endif  // FTL_COMMON_COMM_GRADIENT_BUCKETS_H_
