// The collective operations data-parallel training needs, behind one interface; the trainer never
// includes mpi.h or nccl.h.
#ifndef FTL_COMMON_COMM_COMMUNICATOR_H_
#define FTL_COMMON_COMM_COMMUNICATOR_H_

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ftl {

// An all-reduce in flight (see Communicator::StartAllReduceSum).
class PendingAllReduce {
 public:
  virtual ~PendingAllReduce() = default;
  // Lets the transport make progress; true once the result is in place.
  virtual bool Test() = 0;
  // Blocks until the result is in place (for CUDA tensors: until it is ordered before later work
  // on the current stream).
  virtual void Wait() = 0;
};

// A collective a stream-ordered transport (NCCL) has handed to its device and that has not
// finished there yet: its call returned long ago, but the work may still be waiting for a peer.
struct UnfinishedCollective {
  std::string operation;  // e.g. "NCCL all-reduce", or the transport's asynchronous error
  double seconds = 0;     // since it was enqueued
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Ranks of this job on the same node, and this rank's index among them.
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;

  // Sums each tensor across ranks, in place; every rank gets the totals. Tensors must be dense
  // (contiguous in some memory format, e.g. channels-last), float32/float64/int64, with identical
  // shapes, strides and order on every rank.
  virtual void AllReduceSum(std::vector<torch::Tensor>& tensors) = 0;
  // Starts AllReduceSum of one tensor and returns at once, so that communication overlaps the
  // work that follows (gradient buckets during backward). The tensor must stay alive and untouched
  // until Wait(). The default runs it to completion before returning.
  virtual std::unique_ptr<PendingAllReduce> StartAllReduceSum(torch::Tensor tensor);
  // Elementwise maximum across ranks, in place (as AllReduceSum; e.g. a sharded softmax's row
  // maxima).
  virtual void AllReduceMax(std::vector<torch::Tensor>& tensors) = 0;
  // Every rank's `local` stacked along dim 0 in rank order: size() * local.size(0) rows (e.g. the
  // features of every rank's batch, for a classifier sharded by class). Every rank passes the same
  // shape and dtype; `local` is not changed; the result is a new dense tensor on its device.
  virtual torch::Tensor AllGather(const torch::Tensor& local) = 0;
  // The sum across ranks of `full` (size() * n rows, the same shape on every rank), of which this
  // rank gets its block: rows [rank * n, (rank + 1) * n) of the sum, a new dense tensor (e.g. each
  // rank's share of the feature gradients of a sharded classifier).
  virtual torch::Tensor ReduceScatterSum(const torch::Tensor& full) = 0;
  // Copies root's tensors into every rank's, in place (same shapes and order everywhere).
  virtual void Broadcast(std::vector<torch::Tensor>& tensors, int root) = 0;
  // Returns when every rank has called it.
  virtual void Barrier() = 0;
  // Broadcasts bytes from root (receivers' strings are replaced).
  virtual void BroadcastBytes(std::string& bytes, int root) = 0;
  // Ends every rank of the job with `exit_code`, for a failure only this rank met: the others may
  // be waiting in a collective and would otherwise wait for ever. Does not return.
  [[noreturn]] virtual void Abort(int exit_code);
  // The oldest collective enqueued on a device and not finished there, if any. Transports whose
  // calls block until the work is done (MPI) have none. Called by the collective watchdog from its
  // own thread, so implementations must be thread-safe.
  virtual std::optional<UnfinishedCollective> OldestUnfinished() { return std::nullopt; }
};

// A one-process communicator: collectives are no-ops.
std::unique_ptr<Communicator> CreateLocalCommunicator();

}  // namespace ftl

#endif  // FTL_COMMON_COMM_COMMUNICATOR_H_
