// The collective watchdog: a collective that outlives the timeout is reported once, naming the
// operation and rank; short ones, unarmed ones and a disabled watchdog are not.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/comm/watchdog_communicator.h"

namespace ftl {
namespace {

// Rank 1 of 2 whose collectives take `delay` each (a stand-in for a peer that stopped).
class SlowCommunicator : public Communicator {
 public:
  explicit SlowCommunicator(std::chrono::milliseconds delay) : delay_(delay) {}
  int rank() const override { return 1; }
  int size() const override { return 2; }
  int local_rank() const override { return 1; }
  int local_size() const override { return 2; }
  void AllReduceSum(std::vector<torch::Tensor>&) override { std::this_thread::sleep_for(delay_); }
  void AllReduceMax(std::vector<torch::Tensor>&) override { std::this_thread::sleep_for(delay_); }
  torch::Tensor AllGather(const torch::Tensor& local) override {
    std::this_thread::sleep_for(delay_);
    return torch::cat({local, local});
  }
  torch::Tensor ReduceScatterSum(const torch::Tensor& full) override {
    std::this_thread::sleep_for(delay_);
    return full.narrow(0, full.size(0) / 2, full.size(0) / 2).clone();
  }
  void Broadcast(std::vector<torch::Tensor>&, int) override { std::this_thread::sleep_for(delay_); }
  void Barrier() override { std::this_thread::sleep_for(delay_); }
  void BroadcastBytes(std::string&, int) override { std::this_thread::sleep_for(delay_); }

 private:
  std::chrono::milliseconds delay_;
};

struct Reports {
  std::mutex mutex;
  std::vector<std::string> messages;
  CollectiveTimeoutAction action() {
    return [this](const std::string& message) {
      std::lock_guard<std::mutex> lock(mutex);
      messages.push_back(message);
    };
  }
  std::vector<std::string> get() {
    std::lock_guard<std::mutex> lock(mutex);
    return messages;
  }
};

constexpr double kTimeout = 0.15, kPoll = 0.01;

TEST(WatchdogTest, ReportsACollectiveThatOutlivesTheTimeoutOnce) {
  Reports reports;
  auto comm =
      WithCollectiveWatchdog(std::make_unique<SlowCommunicator>(std::chrono::milliseconds(600)),
                             kTimeout, reports.action(), kPoll);
  ArmCollectiveWatchdog(*comm);
  std::vector<torch::Tensor> t = {torch::zeros({1})};
  comm->AllReduceSum(t);
  const std::vector<std::string> messages = reports.get();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("collective timeout: all-reduce on rank 1 of 2"), std::string::npos)
      << messages[0];
  EXPECT_NE(messages[0].find("runtime.collective_timeout_seconds"), std::string::npos);
  std::string bytes = "x";
  comm->BroadcastBytes(bytes, 0);
  ASSERT_EQ(reports.get().size(), 2u);
  EXPECT_NE(reports.get()[1].find("broadcast of bytes"), std::string::npos);
}

// A stream-ordered transport (NCCL) whose calls return at once while the device waits: the
// watchdog polls its oldest unfinished collective.
class EnqueuingCommunicator : public SlowCommunicator {
 public:
  EnqueuingCommunicator() : SlowCommunicator(std::chrono::milliseconds(0)) {}
  std::optional<UnfinishedCollective> OldestUnfinished() override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!enqueued_) return std::nullopt;
    return UnfinishedCollective{
        "NCCL all-reduce",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - *enqueued_).count()};
  }
  void Enqueue() {
    std::lock_guard<std::mutex> lock(mutex_);
    enqueued_ = std::chrono::steady_clock::now();
  }
  void Finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    enqueued_.reset();
  }

 private:
  std::mutex mutex_;
  std::optional<std::chrono::steady_clock::time_point> enqueued_;
};

TEST(WatchdogTest, DeviceWorkThatNeverFinishesIsReportedOnce) {
  Reports reports;
  auto inner = std::make_unique<EnqueuingCommunicator>();
  EnqueuingCommunicator* device = inner.get();
  auto comm = WithCollectiveWatchdog(std::move(inner), kTimeout, reports.action(), kPoll);
  ArmCollectiveWatchdog(*comm);
  device->Enqueue();  // finishes in time: nothing to report
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  device->Finish();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(reports.get().empty());
  device->Enqueue();  // never finishes (a peer stopped)
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const std::vector<std::string> messages = reports.get();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("NCCL all-reduce (enqueued on the GPU, not finished) on rank 1 of 2"),
            std::string::npos)
      << messages[0];
  EXPECT_EQ(comm->OldestUnfinished()->operation, "NCCL all-reduce");  // forwarded
}

// The sharded classifier's collectives are timed like the others, each under its own name, and
// the decorator passes their results through.
TEST(WatchdogTest, TimesAllGatherReduceScatterAndMax) {
  Reports reports;
  auto comm =
      WithCollectiveWatchdog(std::make_unique<SlowCommunicator>(std::chrono::milliseconds(400)),
                             kTimeout, reports.action(), kPoll);
  ArmCollectiveWatchdog(*comm);
  const torch::Tensor local = torch::arange(6, torch::kFloat32).view({3, 2});
  EXPECT_TRUE(torch::equal(comm->AllGather(local), torch::cat({local, local})));
  EXPECT_TRUE(torch::equal(comm->ReduceScatterSum(torch::cat({local, local * 2})), local * 2));
  std::vector<torch::Tensor> t = {torch::zeros({1})};
  comm->AllReduceMax(t);
  const std::vector<std::string> messages = reports.get();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_NE(messages[0].find("all-gather"), std::string::npos) << messages[0];
  EXPECT_NE(messages[1].find("reduce-scatter"), std::string::npos) << messages[1];
  EXPECT_NE(messages[2].find("all-reduce (max)"), std::string::npos) << messages[2];
}

// A one-process communicator's collectives are the identity (copies, never aliases).
TEST(LocalCommunicatorTest, CollectivesOfOneRankAreCopies) {
  auto comm = CreateLocalCommunicator();
  const torch::Tensor local = torch::randn({4, 3}).t();  // not contiguous
  const torch::Tensor gathered = comm->AllGather(local);
  EXPECT_TRUE(torch::equal(gathered, local));
  EXPECT_TRUE(gathered.is_contiguous());
  EXPECT_NE(gathered.data_ptr(), local.data_ptr());
  const torch::Tensor scattered = comm->ReduceScatterSum(local);
  EXPECT_TRUE(torch::equal(scattered, local));
  EXPECT_NE(scattered.data_ptr(), local.data_ptr());
  std::vector<torch::Tensor> t = {local.clone()};
  comm->AllReduceMax(t);
  EXPECT_TRUE(torch::equal(t[0], local));
}

TEST(WatchdogTest, StartedAllReduceIsTimedWhenWaitedFor) {
  Reports reports;
  auto comm =
      WithCollectiveWatchdog(std::make_unique<SlowCommunicator>(std::chrono::milliseconds(600)),
                             kTimeout, reports.action(), kPoll);
  ArmCollectiveWatchdog(*comm);
  // The base class's StartAllReduceSum runs the all-reduce at once: timed as the start.
  std::unique_ptr<PendingAllReduce> pending = comm->StartAllReduceSum(torch::zeros({1}));
  pending->Wait();
  ASSERT_EQ(reports.get().size(), 1u);
  EXPECT_NE(reports.get()[0].find("all-reduce (start)"), std::string::npos) << reports.get()[0];
}

TEST(WatchdogTest, ShortUnarmedAndDisabledAreNotReported) {
  Reports reports;
  {
    auto quick =
        WithCollectiveWatchdog(std::make_unique<SlowCommunicator>(std::chrono::milliseconds(10)),
                               kTimeout, reports.action(), kPoll);
    ArmCollectiveWatchdog(*quick);
    std::vector<torch::Tensor> t = {torch::zeros({1})};
    for (int i = 0; i < 20; ++i) quick->AllReduceSum(t);  // 200 ms in all, 10 ms each
    quick->Barrier();
  }
  {
    auto unarmed =
        WithCollectiveWatchdog(std::make_unique<SlowCommunicator>(std::chrono::milliseconds(400)),
                               kTimeout, reports.action(), kPoll);
    unarmed->Barrier();  // before Arm: a rank listing the data while the others wait
  }
  {
    auto disabled =
        WithCollectiveWatchdog(std::make_unique<SlowCommunicator>(std::chrono::milliseconds(400)),
                               0.0, reports.action(), kPoll);
    ArmCollectiveWatchdog(*disabled);
    disabled->Barrier();
  }
  EXPECT_TRUE(reports.get().empty());
  // Arming a communicator without a watchdog is harmless.
  std::unique_ptr<Communicator> plain = CreateLocalCommunicator();
  ArmCollectiveWatchdog(*plain);
  EXPECT_EQ(plain->size(), 1);
}

}  // namespace
}  // namespace ftl
