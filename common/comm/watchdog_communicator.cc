#include "common/comm/watchdog_communicator.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/util/work_counter.h"

namespace ftl {
namespace {

using Clock = std::chrono::steady_clock;

class WatchdogCommunicator : public Communicator {
 public:
  WatchdogCommunicator(std::unique_ptr<Communicator> inner, double timeout_seconds,
                       CollectiveTimeoutAction on_timeout, double poll_seconds)
      : inner_(std::move(inner)),
        timeout_seconds_(timeout_seconds),
        poll_seconds_(poll_seconds),
        on_timeout_(std::move(on_timeout)) {
    if (!on_timeout_) {
      on_timeout_ = [](const std::string& message) {
        std::fprintf(stderr, "%s\n", message.c_str());
        std::fflush(nullptr);
        std::_Exit(kCollectiveTimeoutExitCode);
      };
    }
    if (timeout_seconds_ > 0) watcher_ = std::thread([this] { Watch(); });
  }
  ~WatchdogCommunicator() override {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    if (watcher_.joinable()) watcher_.join();
  }

  void Arm() {
    absl::MutexLock lock(&mutex_);
    armed_ = true;
  }

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int local_rank() const override { return inner_->local_rank(); }
  int local_size() const override { return inner_->local_size(); }

  void AllReduceSum(std::vector<torch::Tensor>& tensors) override {
    Timed timed(*this, "all-reduce");
    inner_->AllReduceSum(tensors);
  }
  std::unique_ptr<PendingAllReduce> StartAllReduceSum(torch::Tensor tensor) override {
    std::unique_ptr<PendingAllReduce> pending;
    {
      Timed timed(*this, "all-reduce (start)");
      pending = inner_->StartAllReduceSum(std::move(tensor));
    }
    return std::make_unique<TimedPending>(*this, std::move(pending));
  }
  void AllReduceMax(std::vector<torch::Tensor>& tensors) override {
    Timed timed(*this, "all-reduce (max)");
    inner_->AllReduceMax(tensors);
  }
  torch::Tensor AllGather(const torch::Tensor& local) override {
    Timed timed(*this, "all-gather");
    return inner_->AllGather(local);
  }
  torch::Tensor ReduceScatterSum(const torch::Tensor& full) override {
    Timed timed(*this, "reduce-scatter");
    return inner_->ReduceScatterSum(full);
  }
  void Broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    Timed timed(*this, "broadcast");
    inner_->Broadcast(tensors, root);
  }
  void Barrier() override {
    Timed timed(*this, "barrier");
    inner_->Barrier();
  }
  void BroadcastBytes(std::string& bytes, int root) override {
    Timed timed(*this, "broadcast of bytes");
    inner_->BroadcastBytes(bytes, root);
  }
  [[noreturn]] void Abort(int exit_code) override { inner_->Abort(exit_code); }
  std::optional<UnfinishedCollective> OldestUnfinished() override {
    return inner_->OldestUnfinished();
  }

 private:
  // Marks a collective in flight for its lifetime (collectives run on one thread at a time).
  class Timed {
   public:
    Timed(WatchdogCommunicator& owner, const char* operation) : owner_(owner) {
      absl::MutexLock lock(&owner_.mutex_);
      owner_.operation_ = operation;
      owner_.since_ = Clock::now();
      owner_.in_flight_ = true;
    }
    ~Timed() {
      absl::MutexLock lock(&owner_.mutex_);
      owner_.in_flight_ = false;
      CountWork();  // the heartbeat's sign of progress (a collective that returns)
    }

   private:
    WatchdogCommunicator& owner_;
  };

  // A started all-reduce: its Wait is timed like a blocking collective.
  class TimedPending : public PendingAllReduce {
   public:
    TimedPending(WatchdogCommunicator& owner, std::unique_ptr<PendingAllReduce> inner)
        : owner_(owner), inner_(std::move(inner)) {}
    bool Test() override { return inner_->Test(); }
    void Wait() override {
      Timed timed(owner_, "all-reduce (wait)");
      inner_->Wait();
    }

   private:
    WatchdogCommunicator& owner_;
    std::unique_ptr<PendingAllReduce> inner_;
  };

  void Watch() {
    for (;;) {
      std::string message;
      {
        absl::MutexLock lock(&mutex_);
        if (mutex_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(poll_seconds_)))
          return;
        if (!armed_) continue;
        if (in_flight_) {
          const double waited = std::chrono::duration<double>(Clock::now() - since_).count();
          if (waited >= timeout_seconds_) {
            message = Message(operation_, waited);
            in_flight_ = false;  // reported once (a test's action returns)
          }
        }
        // Stream-ordered work (NCCL): the call returned at once, the device is still waiting.
        if (message.empty()) {
          const std::optional<UnfinishedCollective> unfinished = inner_->OldestUnfinished();
          if (unfinished && unfinished->seconds >= timeout_seconds_ &&
              unfinished->operation != reported_unfinished_) {
            message = Message(unfinished->operation + " (enqueued on the GPU, not finished)",
                              unfinished->seconds);
            reported_unfinished_ = unfinished->operation;
          }
        }
        if (message.empty()) continue;
      }
      on_timeout_(message);
    }
  }

  std::string Message(const std::string& operation, double waited) const {
    return absl::StrFormat(
        "error: collective timeout: %s on rank %d of %d has waited %.0f s (limit %.0f s, "
        "runtime.collective_timeout_seconds): a peer rank is stopped, hung or lost; ending "
        "this rank (exit code %d) so that the job ends and can resume from its last checkpoint",
        operation, inner_->rank(), inner_->size(), waited, timeout_seconds_,
        kCollectiveTimeoutExitCode);
  }

  const std::unique_ptr<Communicator> inner_;
  const double timeout_seconds_;
  const double poll_seconds_;
  CollectiveTimeoutAction on_timeout_;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool armed_ ABSL_GUARDED_BY(mutex_) = false;
  bool in_flight_ ABSL_GUARDED_BY(mutex_) = false;
  const char* operation_ ABSL_GUARDED_BY(mutex_) = "";
  Clock::time_point since_ ABSL_GUARDED_BY(mutex_);
  std::string reported_unfinished_
      ABSL_GUARDED_BY(mutex_);  // reported once (tests' actions return)
  std::thread watcher_;         // last: starts once the members above exist
};

}  // namespace

std::unique_ptr<Communicator> WithCollectiveWatchdog(std::unique_ptr<Communicator> inner,
                                                     double timeout_seconds,
                                                     CollectiveTimeoutAction on_timeout,
                                                     double poll_seconds) {
  return std::make_unique<WatchdogCommunicator>(std::move(inner), timeout_seconds,
                                                std::move(on_timeout), poll_seconds);
}

void ArmCollectiveWatchdog(Communicator& comm) {
  if (auto* watchdog = dynamic_cast<WatchdogCommunicator*>(&comm)) watchdog->Arm();
}

}  // namespace ftl
