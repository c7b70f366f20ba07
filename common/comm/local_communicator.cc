#include <cstdio>
#include <cstdlib>

#include "common/comm/communicator.h"

namespace ftl {
namespace {

class CompletedAllReduce : public PendingAllReduce {
 public:
  bool Test() override { return true; }
  void Wait() override {}
};

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void AllReduceSum(std::vector<torch::Tensor>&) override {}
  void AllReduceMax(std::vector<torch::Tensor>&) override {}
  torch::Tensor AllGather(const torch::Tensor& local) override {
    return local.clone(at::MemoryFormat::Contiguous);
  }
  torch::Tensor ReduceScatterSum(const torch::Tensor& full) override {
    return full.clone(at::MemoryFormat::Contiguous);
  }
  void Broadcast(std::vector<torch::Tensor>&, int) override {}
  void Barrier() override {}
  void BroadcastBytes(std::string&, int) override {}
};

}  // namespace

std::unique_ptr<PendingAllReduce> Communicator::StartAllReduceSum(torch::Tensor tensor) {
  std::vector<torch::Tensor> one = {std::move(tensor)};
  AllReduceSum(one);
  return std::make_unique<CompletedAllReduce>();
}

void Communicator::Abort(int exit_code) {
  std::fflush(nullptr);
  std::_Exit(exit_code);
}

std::unique_ptr<Communicator> CreateLocalCommunicator() {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace ftl
