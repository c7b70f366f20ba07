// Gradient averaging across ranks with tensor fusion (as DDP's buckets and Horovod's fusion
// buffer): gradients are packed into flat buckets of about `bucket_bytes`, each bucket is one
// all-reduce, and the result is divided by the number of ranks.
//
// With overlap on, each parameter's gradient hook copies the gradient into its bucket as backward
// produces it, and a bucket's all-reduce starts as soon as its last gradient arrives, so
// communication runs while backward computes the rest. Buckets are filled in reverse parameter
// order, the order backward produces gradients in.
#ifndef FTL_COMMON_COMM_GRADIENT_BUCKETS_H_
#define FTL_COMMON_COMM_GRADIENT_BUCKETS_H_

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "common/comm/communicator.h"

namespace ftl {

struct AllReduceStats {
  int64_t calls = 0;
  int64_t bytes = 0;
  // Host time spent in FinishBackward: packing what was not packed yet, waiting for the
  // all-reduces and unpacking. With overlap, the communication hidden behind backward is not here.
  double seconds = 0.0;
  int64_t buckets_started_in_backward = 0;
};

class GradientAverager {
 public:
  // parameters: the tensors whose .grad() to average (fixed order on every rank), on their final
  // device; they must require grad when the averager is made if `overlap`.
  GradientAverager(std::vector<torch::Tensor> parameters, int64_t bucket_bytes,
                   bool overlap = false);
  ~GradientAverager();

  // Call right before loss.backward(): arms the gradient hooks of this averager's parameters.
  void BeginBackward(Communicator& comm);
  // Call after backward: finishes every bucket and leaves the averages in .grad(). A parameter
  // without a gradient counts as zero.
  void FinishBackward(Communicator& comm);
  // Without overlap: FinishBackward alone (pack, all-reduce, unpack after backward).
  void Average(Communicator& comm) { FinishBackward(comm); }

  int num_buckets() const;
  const AllReduceStats& stats() const { return stats_; }

 private:
  struct Bucket;
  void OnGradient(int parameter, const torch::Tensor& grad);
  torch::Tensor& Flat(Bucket& bucket);

  std::vector<torch::Tensor> parameters_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;      // per parameter
  std::vector<int> slot_of_;        // per parameter, its index in its bucket's parameters
  std::vector<int64_t> offset_of_;  // per parameter, within its bucket
  bool overlap_;
  bool armed_ = false;
  Communicator* comm_ = nullptr;  // while armed
  // What the gradient hooks reach this averager through; cleared on destruction, as the hooks
  // stay on the parameters.
  std::shared_ptr<GradientAverager*> self_;
  AllReduceStats stats_;
};

}  // namespace ftl

#endif  // FTL_COMMON_COMM_GRADIENT_BUCKETS_H_
