#include "common/comm/communicator.h"

namespace ftl {
namespace {

class LocalCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void AllReduceSum(std::vector<torch::Tensor>&) override {}
  void Broadcast(std::vector<torch::Tensor>&, int) override {}
  void Barrier() override {}
  void BroadcastBytes(std::string&, int) override {}
};

}  // namespace

std::unique_ptr<Communicator> CreateLocalCommunicator() {
  return std::make_unique<LocalCommunicator>();
}

}  // namespace ftl
