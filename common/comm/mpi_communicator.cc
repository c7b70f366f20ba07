#include "common/comm/mpi_communicator.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace ftl {
namespace {

// Waits for `request` without holding a core. Open MPI's blocking calls poll at full speed, so a
// rank waiting long for a broadcast or a barrier (rank 0 writing a checkpoint, a slow or stopped
// peer, up to the collective timeout) would take a core its node's other ranks need. A short wait
// stays as fast as polling; after that the rank naps between tests, up to 2 ms. All-reduces keep
// MPI's own waits: they run in lock step, and a nap would delay every gradient bucket.
void WaitPolitely(MPI_Request* request) {
  constexpr int kSpins = 2000;
  int done = 0;
  for (int spin = 0;; ++spin) {
    MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    if (spin < kSpins) continue;
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::min(2000, 20 * (spin - kSpins + 1))));
  }
}

MPI_Datatype MpiType(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return MPI_FLOAT;
    case torch::kFloat64:
      return MPI_DOUBLE;
    case torch::kInt64:
      return MPI_INT64_T;
    case torch::kInt32:
      return MPI_INT32_T;
    case torch::kUInt8:
      return MPI_UINT8_T;
    default:
      TORCH_CHECK(false, "MPI communicator: unsupported dtype ", t.scalar_type());
  }
}

// MPI counts are int, so large tensors must go in chunks anyway; they go in pieces of at most
// 4 MiB: a 25 MB all-reduce in one call streams both ranks' buffers through DRAM, in cache-sized
// pieces it ran about 1.4x faster on 2 ranks here (bench/run.sh, allreduce_vs_memcpy).
constexpr int64_t kChunkBytes = int64_t{4} << 20;

template <typename Op>
void Chunked(const torch::Tensor& t, Op op) {
  // Dense is enough (e.g. channels-last weights): every rank holds the same shapes and strides,
  // so the same bytes are the same elements everywhere.
  TORCH_CHECK(t.is_non_overlapping_and_dense() && t.device().is_cpu(),
              "MPI communicator needs dense CPU tensors");
  const int64_t total = t.numel();
  const int64_t chunk =
      std::max<int64_t>(1, std::min<int64_t>(INT_MAX / 2, kChunkBytes / t.element_size()));
  char* base = static_cast<char*>(t.data_ptr());
  for (int64_t offset = 0; offset < total; offset += chunk) {
    op(base + offset * t.element_size(), static_cast<int>(std::min(chunk, total - offset)));
  }
}

// MPI_Iallreduce requests of one tensor (one per chunk).
class MpiPendingAllReduce : public PendingAllReduce {
 public:
  explicit MpiPendingAllReduce(torch::Tensor tensor) : tensor_(std::move(tensor)) {
    Chunked(tensor_, [this](void* data, int count) {
      requests_.emplace_back();
      MPI_Iallreduce(MPI_IN_PLACE, data, count, MpiType(tensor_), MPI_SUM, MPI_COMM_WORLD,
                     &requests_.back());
    });
  }
  ~MpiPendingAllReduce() override { Wait(); }
  bool Test() override {
    int done = 0;
    MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE);
    return done != 0;
  }
  void Wait() override {
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }

 private:
  torch::Tensor tensor_;
  std::vector<MPI_Request> requests_;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(int* argc, char*** argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
      owns_mpi_ = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_);
    MPI_Comm_rank(node_, &local_rank_);
    MPI_Comm_size(node_, &local_size_);
  }
  ~MpiCommunicator() override {
    MPI_Comm_free(&node_);
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  [[noreturn]] void Abort(int exit_code) override {
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);  // MPI_Abort does not return; this is for the compiler
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void AllReduceSum(std::vector<torch::Tensor>& tensors) override { AllReduce(tensors, MPI_SUM); }
  void AllReduceMax(std::vector<torch::Tensor>& tensors) override { AllReduce(tensors, MPI_MAX); }

  torch::Tensor AllGather(const torch::Tensor& local) override {
    TORCH_CHECK(local.dim() >= 1 && local.device().is_cpu(),
                "MPI all-gather needs a CPU tensor of at least one dimension");
    const torch::Tensor in = local.contiguous();
    std::vector<int64_t> shape = in.sizes().vec();
    shape[0] *= size_;
    torch::Tensor out = torch::empty(shape, in.options());
    const int64_t n = in.numel();
    if (n == 0) return out;
    if (size_ == 1) return out.copy_(in);
    const MPI_Datatype type = MpiType(in);
    const torch::Tensor blocks = out.view({size_, n});  // row r: rank r's elements
    const torch::Tensor flat = in.view({n});
    const int64_t chunk = ChunkElements(in.element_size());
    for (int64_t offset = 0; offset < n; offset += chunk) {
      const int count = static_cast<int>(std::min(chunk, n - offset));
      if (count == n) {  // one call, straight into place
        MPI_Allgather(flat.data_ptr(), count, type, out.data_ptr(), count, type, MPI_COMM_WORLD);
        break;
      }
      torch::Tensor gathered = torch::empty({size_, count}, in.options());
      MPI_Allgather(flat.narrow(0, offset, count).data_ptr(), count, type, gathered.data_ptr(),
                    count, type, MPI_COMM_WORLD);
      blocks.narrow(1, offset, count).copy_(gathered);
    }
    return out;
  }

  torch::Tensor ReduceScatterSum(const torch::Tensor& full) override {
    TORCH_CHECK(full.dim() >= 1 && full.device().is_cpu() && full.size(0) % size_ == 0,
                "MPI reduce-scatter needs a CPU tensor whose rows divide by the rank count");
    const torch::Tensor in = full.contiguous();
    std::vector<int64_t> shape = in.sizes().vec();
    shape[0] /= size_;
    torch::Tensor out = torch::empty(shape, in.options());
    const int64_t n = out.numel();
    if (n == 0) return out;
    if (size_ == 1) return out.copy_(in);
    const MPI_Datatype type = MpiType(in);
    const torch::Tensor blocks = in.view({size_, n});  // row r: the elements rank r receives
    const torch::Tensor flat = out.view({n});
    const int64_t chunk = ChunkElements(in.element_size());
    for (int64_t offset = 0; offset < n; offset += chunk) {
      const int count = static_cast<int>(std::min(chunk, n - offset));
      // A column range of every block, contiguous (a copy unless it is the whole tensor).
      const torch::Tensor piece = blocks.narrow(1, offset, count).contiguous();
      MPI_Reduce_scatter_block(piece.data_ptr(), flat.narrow(0, offset, count).data_ptr(), count,
                               type, MPI_SUM, MPI_COMM_WORLD);
    }
    return out;
  }

  std::unique_ptr<PendingAllReduce> StartAllReduceSum(torch::Tensor tensor) override {
    if (size_ == 1) return Communicator::StartAllReduceSum(std::move(tensor));
    return std::make_unique<MpiPendingAllReduce>(std::move(tensor));
  }

  void Broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    if (size_ == 1) return;
    for (torch::Tensor& t : tensors) {
      const MPI_Datatype type = MpiType(t);
      Chunked(t, [type, root](void* data, int count) {
        MPI_Request request;
        MPI_Ibcast(data, count, type, root, MPI_COMM_WORLD, &request);
        WaitPolitely(&request);
      });
    }
  }

  void Barrier() override {
    MPI_Request request;
    MPI_Ibarrier(MPI_COMM_WORLD, &request);
    WaitPolitely(&request);
  }

  void BroadcastBytes(std::string& bytes, int root) override {
    if (size_ == 1) return;
    int64_t length = static_cast<int64_t>(bytes.size());
    MPI_Request request;
    MPI_Ibcast(&length, 1, MPI_INT64_T, root, MPI_COMM_WORLD, &request);
    WaitPolitely(&request);
    bytes.resize(length);
    torch::Tensor view = torch::from_blob(bytes.data(), {length}, torch::kUInt8);
    std::vector<torch::Tensor> one = {view};
    Broadcast(one, root);
  }

 private:
  void AllReduce(std::vector<torch::Tensor>& tensors, MPI_Op op) {
    if (size_ == 1) return;
    for (torch::Tensor& t : tensors) {
      const MPI_Datatype type = MpiType(t);
      Chunked(t, [type, op](void* data, int count) {
        MPI_Allreduce(MPI_IN_PLACE, data, count, type, op, MPI_COMM_WORLD);
      });
    }
  }
  // Elements per call of an all-gather or reduce-scatter: the chunk size of Chunked, and a count
  // times the rank count an int can hold.
  int64_t ChunkElements(int64_t element_size) const {
    return std::max<int64_t>(1, std::min<int64_t>(INT_MAX / 2 / size_, kChunkBytes / element_size));
  }

  bool owns_mpi_ = false;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  MPI_Comm node_ = MPI_COMM_NULL;
};

}  // namespace

std::unique_ptr<Communicator> CreateMpiCommunicator(int* argc, char*** argv) {
  return std::make_unique<MpiCommunicator>(argc, argv);
}

}  // namespace ftl
