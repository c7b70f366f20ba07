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
