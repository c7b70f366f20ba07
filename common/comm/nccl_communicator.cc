#include "common/comm/nccl_communicator.h"

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAStream.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/comm/device_communicator.h"

namespace ftl {
namespace {

#define FTL_NCCL_CHECK(call)                                           \
  do {                                                                 \
    const ncclResult_t result_ = (call);                               \
    TORCH_CHECK(result_ == ncclSuccess, "NCCL error in ", #call, ": ", \
                ncclGetErrorString(result_));                          \
  } while (0)

ncclDataType_t NcclType(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return ncclFloat32;
    case torch::kFloat64:
      return ncclFloat64;
    case torch::kBFloat16:
      return ncclBfloat16;
    case torch::kFloat16:
      return ncclFloat16;
    case torch::kInt64:
      return ncclInt64;
    case torch::kInt32:
      return ncclInt32;
    case torch::kUInt8:
      return ncclUint8;
    default:
      TORCH_CHECK(false, "NCCL communicator: unsupported dtype ", t.scalar_type());
  }
}

// NCCL work is ordered on the current stream: anything later on that stream sees the result, so
// there is nothing to wait for on the host.
class StreamOrderedAllReduce : public PendingAllReduce {
 public:
  explicit StreamOrderedAllReduce(torch::Tensor tensor) : tensor_(std::move(tensor)) {}
  bool Test() override { return true; }
  void Wait() override {}

 private:
  torch::Tensor tensor_;  // kept alive until the stream has used it
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(std::unique_ptr<Communicator> bootstrap, ncclComm_t comm, int device)
      : bootstrap_(std::move(bootstrap)), comm_(comm), device_(device) {}
  ~NcclCommunicator() override {
    {
      absl::MutexLock lock(&mutex_);
      for (const Enqueued& e : enqueued_) cudaEventDestroy(e.done);
      enqueued_.clear();
    }
    ncclCommDestroy(comm_);
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  int local_rank() const override { return bootstrap_->local_rank(); }
  int local_size() const override { return bootstrap_->local_size(); }

  void AllReduceSum(std::vector<torch::Tensor>& tensors) override {
    std::vector<torch::Tensor> host = Grouped(
        tensors,
        [this](torch::Tensor& t, cudaStream_t stream) {
          FTL_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                                       NcclType(t), ncclSum, comm_, stream));
        },
        "NCCL all-reduce");
    if (!host.empty()) bootstrap_->AllReduceSum(host);
  }

  void AllReduceMax(std::vector<torch::Tensor>& tensors) override {
    std::vector<torch::Tensor> host = Grouped(
        tensors,
        [this](torch::Tensor& t, cudaStream_t stream) {
          FTL_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                                       NcclType(t), ncclMax, comm_, stream));
        },
        "NCCL all-reduce (max)");
    if (!host.empty()) bootstrap_->AllReduceMax(host);
  }

  torch::Tensor AllGather(const torch::Tensor& local) override {
    if (!local.is_cuda()) return bootstrap_->AllGather(local);
    TORCH_CHECK(local.dim() >= 1, "NCCL all-gather needs a tensor of at least one dimension");
    const torch::Tensor in = local.contiguous();
    CheckDeviceTensor(in);
    std::vector<int64_t> shape = in.sizes().vec();
    shape[0] *= size();
    torch::Tensor out = torch::empty(shape, in.options());
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_).stream();
    // Rank r's block lands at offset r * numel: rows [r * n, (r + 1) * n) of `out`.
    FTL_NCCL_CHECK(ncclAllGather(in.data_ptr(), out.data_ptr(), static_cast<size_t>(in.numel()),
                                 NcclType(in), comm_, stream));
    Track("NCCL all-gather", stream);
    return out;
  }

  torch::Tensor ReduceScatterSum(const torch::Tensor& full) override {
    if (!full.is_cuda()) return bootstrap_->ReduceScatterSum(full);
    TORCH_CHECK(full.dim() >= 1 && full.size(0) % size() == 0,
                "NCCL reduce-scatter needs a tensor whose rows divide by the rank count");
    const torch::Tensor in = full.contiguous();
    CheckDeviceTensor(in);
    std::vector<int64_t> shape = in.sizes().vec();
    shape[0] /= size();
    torch::Tensor out = torch::empty(shape, in.options());
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_).stream();
    FTL_NCCL_CHECK(ncclReduceScatter(in.data_ptr(), out.data_ptr(),
                                     static_cast<size_t>(out.numel()), NcclType(in), ncclSum, comm_,
                                     stream));
    Track("NCCL reduce-scatter", stream);
    return out;
  }

  std::unique_ptr<PendingAllReduce> StartAllReduceSum(torch::Tensor tensor) override {
    if (!tensor.is_cuda()) return bootstrap_->StartAllReduceSum(std::move(tensor));
    std::vector<torch::Tensor> one = {tensor};
    AllReduceSum(one);
    return std::make_unique<StreamOrderedAllReduce>(std::move(tensor));
  }

  void Broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    std::vector<torch::Tensor> host = Grouped(
        tensors,
        [this, root](torch::Tensor& t, cudaStream_t stream) {
          FTL_NCCL_CHECK(ncclBroadcast(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                                       NcclType(t), root, comm_, stream));
        },
        "NCCL broadcast");
    if (!host.empty()) bootstrap_->Broadcast(host, root);
  }

  void Barrier() override {
    c10::cuda::getCurrentCUDAStream(device_).synchronize();
    bootstrap_->Barrier();
  }
  void BroadcastBytes(std::string& bytes, int root) override {
    bootstrap_->BroadcastBytes(bytes, root);
  }
  [[noreturn]] void Abort(int exit_code) override { bootstrap_->Abort(exit_code); }

  // The collective watchdog's view of the device: the enqueued collectives whose completion
  // event has not fired, oldest first (finished ones are dropped here), and NCCL's asynchronous
  // error (a peer gone, a network failure) as an immediate timeout.
  std::optional<UnfinishedCollective> OldestUnfinished() override {
    ncclResult_t async = ncclSuccess;
    if (ncclCommGetAsyncError(comm_, &async) == ncclSuccess && async != ncclSuccess) {
      return UnfinishedCollective{
          absl::StrCat("NCCL asynchronous error (", ncclGetErrorString(async), ")"), 1e30};
    }
    absl::MutexLock lock(&mutex_);
    while (!enqueued_.empty() && cudaEventQuery(enqueued_.front().done) != cudaErrorNotReady) {
      cudaEventDestroy(enqueued_.front().done);
      enqueued_.pop_front();
    }
    if (enqueued_.empty()) return std::nullopt;
    const Enqueued& oldest = enqueued_.front();
    return UnfinishedCollective{
        oldest.operation,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - oldest.since).count()};
  }

 private:
  struct Enqueued {
    const char* operation;
    std::chrono::steady_clock::time_point since;
    cudaEvent_t done;  // recorded on the stream after the collective
  };

  // Records when the work just enqueued on `stream` finishes, for OldestUnfinished.
  void Track(const char* operation, cudaStream_t stream) {
    cudaEvent_t done;
    if (cudaEventCreateWithFlags(&done, cudaEventDisableTiming) != cudaSuccess) return;
    if (cudaEventRecord(done, stream) != cudaSuccess) {
      cudaEventDestroy(done);
      return;
    }
    absl::MutexLock lock(&mutex_);
    // Keep the queue short: whatever finished is dropped as new work comes.
    while (!enqueued_.empty() && cudaEventQuery(enqueued_.front().done) != cudaErrorNotReady) {
      cudaEventDestroy(enqueued_.front().done);
      enqueued_.pop_front();
    }
    enqueued_.push_back({operation, std::chrono::steady_clock::now(), done});
  }

  // Enqueues `op` for every CUDA tensor as one NCCL group on the current stream; returns the host
  // tensors, which the caller sends over the bootstrap communicator.
  template <typename Op>
  std::vector<torch::Tensor> Grouped(std::vector<torch::Tensor>& tensors, const Op& op,
                                     const char* operation) {
    std::vector<torch::Tensor> host;
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_).stream();
    bool any = false;
    FTL_NCCL_CHECK(ncclGroupStart());
    for (torch::Tensor& t : tensors) {
      if (!t.is_cuda()) {
        host.push_back(t);
        continue;
      }
      CheckDeviceTensor(t);
      op(t, stream);
      any = true;
    }
    FTL_NCCL_CHECK(ncclGroupEnd());
    if (any) Track(operation, stream);
    return host;
  }

  void CheckDeviceTensor(const torch::Tensor& t) const {
    TORCH_CHECK(t.is_non_overlapping_and_dense(), "NCCL communicator needs dense tensors");
    TORCH_CHECK(t.device().index() == device_, "NCCL communicator of GPU ", device_,
                " was given a tensor on ", t.device().str());
  }

  std::unique_ptr<Communicator> bootstrap_;
  ncclComm_t comm_;
  int device_;
  absl::Mutex mutex_;  // the training thread enqueues, the watchdog's thread polls
  std::deque<Enqueued> enqueued_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator(
    std::unique_ptr<Communicator> bootstrap) {
  const int gpus = static_cast<int>(c10::cuda::device_count());
  if (gpus == 0) return absl::FailedPreconditionError("NCCL communicator: no GPU is visible");
  const int device = LocalRankFromEnvironment(bootstrap->local_rank()) % gpus;
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device));

  ncclUniqueId id;
  std::string id_bytes;
  if (bootstrap->rank() == 0) {
    const ncclResult_t result = ncclGetUniqueId(&id);
    if (result != ncclSuccess)
      id_bytes.clear();
    else
      id_bytes.assign(reinterpret_cast<const char*>(&id), sizeof(id));
  }
  bootstrap->BroadcastBytes(id_bytes, 0);
  if (id_bytes.size() != sizeof(id)) {
    return absl::InternalError("NCCL communicator: rank 0 could not create a NCCL unique id");
  }
  std::memcpy(&id, id_bytes.data(), sizeof(id));
  ncclComm_t comm = nullptr;
  const ncclResult_t result = ncclCommInitRank(&comm, bootstrap->size(), id, bootstrap->rank());
  if (result != ncclSuccess) {
    return absl::InternalError(absl::StrCat("NCCL communicator: ncclCommInitRank failed on rank ",
                                            bootstrap->rank(), " (GPU ", device,
                                            "): ", ncclGetErrorString(result)));
  }
  return std::unique_ptr<Communicator>(
      std::make_unique<NcclCommunicator>(std::move(bootstrap), comm, device));
}

}  // namespace ftl
