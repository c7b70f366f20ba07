// The differentiable collectives and losses of a classifier whose class rows are split across
// ranks (class_partition.h): every rank sees the features of the whole global batch, computes the
// logits of its own classes only, and the softmax over all N_c classes is assembled from per-rank
// maxima and sums. The loss is then the same number on every rank, and the gradients reaching
// each rank's logits are exactly those of the replicated loss over the whole batch.
//
// These are the pieces the sharded classifier (issue 31 step 3) is built from; the trainer does
// not use them yet.
#ifndef FTL_COMMON_CLASSIFIER_DISTRIBUTED_OPS_H_
#define FTL_COMMON_CLASSIFIER_DISTRIBUTED_OPS_H_

#include <torch/torch.h>

#include <cstdint>
#include <utility>

#include "common/classifier/class_partition.h"
#include "common/comm/communicator.h"
#include "common/config/job_config.h"

namespace ftl {

// [R * B, ...]: every rank's `local` [B, ...] stacked in rank order (Communicator::AllGather).
// Backward: this rank's block of the gradient summed over ranks (ReduceScatterSum), times R. Each
// rank's loss on the gathered rows is the loss of the whole batch, and the data-parallel gradient
// average that follows divides the backbone's gradients by R: with the factor they come out as
// the gradient of that loss, as a replicated classifier's would (Partial FC once left it out).
torch::Tensor GatherRows(const torch::Tensor& local, Communicator& comm);

// Every rank's `rows` ([n_r, ...], n_r may differ by rank, same trailing shape and dtype) stacked
// in rank order, and where this rank's rows start in it. Not differentiable.
std::pair<torch::Tensor, int64_t> GatherUnevenRows(const torch::Tensor& rows, Communicator& comm);

// Each label's column among `range`'s classes ([B] int64), -1 where another rank holds the class.
torch::Tensor ColumnsIn(const ClassRange& range, const torch::Tensor& labels);

// The sum over ranks of `x` (a new tensor). Backward: the identity. Valid where every rank uses
// the sum in the same way, as the losses below do: each rank's gradient of its own addend is then
// the gradient of the sum.
torch::Tensor SumAcrossRanks(const torch::Tensor& x, Communicator& comm);

// Eq. 2 over all N_c classes from this rank's logits of its classes: `local_logits` [RB, n_r]
// (floating point; columns are classes range.start ...), `labels` [RB] int64 class ids of the
// whole global batch, the same on every rank. With `class_weights` ([N_c]), row i's loss is
// multiplied by class_weights[labels[i]] before the mean, as SoftmaxLoss does. Returns the mean
// over the RB rows, equal on every rank to SoftmaxLoss of the full [RB, N_c] logits.
torch::Tensor ShardedSoftmaxLoss(const torch::Tensor& local_logits, const torch::Tensor& labels,
                                 const ClassRange& range, Communicator& comm,
                                 const torch::Tensor& class_weights = torch::Tensor());

// Eq. 3 (m-L2) of the full logits from the shards: the sum of squared logits over every rank's
// columns, divided by RB * N_c (kMean) or RB (kSum), as MetricL2Loss of the full logits.
torch::Tensor ShardedMetricL2Loss(const torch::Tensor& local_logits, int64_t num_classes,
                                  Reduction reduction, Communicator& comm);

}  // namespace ftl

#endif  // FTL_COMMON_CLASSIFIER_DISTRIBUTED_OPS_H_
