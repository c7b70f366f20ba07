#include "common/comm/device_communicator.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#ifdef FTL_WITH_CUDA
#include "common/comm/nccl_communicator.h"
#endif

namespace ftl {

int LocalRankFromEnvironment(int fallback) {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}) {
    const char* value = std::getenv(name);
    int rank = 0;
    if (value != nullptr && absl::SimpleAtoi(value, &rank) && rank >= 0) return rank;
  }
  return fallback;
}

absl::StatusOr<torch::Device> ResolveDevice(const std::string& requested, int local_rank) {
#ifdef FTL_WITH_CUDA
  constexpr bool kBuiltWithCuda = true;
#else
  constexpr bool kBuiltWithCuda = false;
#endif
  const bool gpu_visible = kBuiltWithCuda && torch::cuda::is_available();
  if (requested == "cpu" || ((requested.empty() || requested == "auto") && !gpu_visible)) {
    return torch::Device(torch::kCPU);
  }
  if (requested != "cuda" && requested != "auto" && !requested.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("runtime.device must be auto, cpu or cuda, not '", requested, "'"));
  }
  if (!kBuiltWithCuda) {
    return absl::InvalidArgumentError(
        "runtime.device is cuda but this ftl_worker was built against a CPU-only LibTorch "
        "(rebuild with a CUDA LibTorch, see docs/operations.md)");
  }
  if (!gpu_visible) {
    return absl::InvalidArgumentError("runtime.device is cuda but no GPU is visible to this rank");
  }
  const int gpus = static_cast<int>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % gpus));
}

absl::StatusOr<std::unique_ptr<Communicator>> CommunicatorForDevice(
    std::unique_ptr<Communicator> mpi, const torch::Device& device) {
  if (device.is_cpu()) return mpi;
#ifdef FTL_WITH_CUDA
  return CreateNcclCommunicator(std::move(mpi));
#else
  return absl::InvalidArgumentError("this build has no CUDA support");
#endif
}

}  // namespace ftl
