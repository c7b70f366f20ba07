// The NCCL communicator, for CUDA tensors: one GPU per rank, collectives enqueued on the current
// CUDA stream. Built only against a CUDA LibTorch (FTL_WITH_CUDA).
#ifndef FTL_COMMON_COMM_NCCL_COMMUNICATOR_H_
#define FTL_COMMON_COMM_NCCL_COMMUNICATOR_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/comm/communicator.h"

namespace ftl {

// Picks this rank's GPU (local rank modulo the visible GPUs), makes it current, and creates a NCCL
// communicator over all ranks; rank 0's unique id travels over `bootstrap` (MPI). CUDA tensors go
// over NCCL; CPU tensors, bytes and barriers keep going over `bootstrap`, which the result owns.
absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(
    std::unique_ptr<Communicator> bootstrap);

}  // namespace ftl

#endif  // FTL_COMMON_COMM_NCCL_COMMUNICATOR_H_
