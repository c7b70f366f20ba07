// Chooses the compute device of a rank and the communicator that goes with it.
#ifndef FTL_COMMON_COMM_DEVICE_COMMUNICATOR_H_
#define FTL_COMMON_COMM_DEVICE_COMMUNICATOR_H_

#include <torch/torch.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/comm/communicator.h"

namespace ftl {

// This rank's index among the ranks on its node, from the launcher's environment
// (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID), else `fallback`.
int LocalRankFromEnvironment(int fallback);

// "cpu" -> CPU; "cuda" -> this rank's GPU (InvalidArgument when this build or machine has none);
// "auto" (or "") -> the GPU when one is visible and the build supports it, else CPU.
absl::StatusOr<torch::Device> ResolveDevice(const std::string& requested, int local_rank);

// The communicator for `device`: `mpi` itself for CPU, NCCL over `mpi` for CUDA.
absl::StatusOr<std::unique_ptr<Communicator>> CommunicatorForDevice(
    std::unique_ptr<Communicator> mpi, const torch::Device& device);

}  // namespace ftl

#endif  // FTL_COMMON_COMM_DEVICE_COMMUNICATOR_H_
