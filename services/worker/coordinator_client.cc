#include "services/worker/coordinator_client.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/util/log.h"
#include "common/util/work_counter.h"
#include "ftl/v1/coordinator.grpc.pb.h"
#include "services/wire/wire.h"

namespace ftl {

class CoordinatorSession::Impl {
 public:
  Impl(std::shared_ptr<grpc::Channel> channel, const std::string& token)
      : stub_(v1::WorkerService::NewStub(std::move(channel))) {
    if (!token.empty()) context_.AddMetadata("authorization", "Bearer " + token);
    stream_ = stub_->Attach(&context_);
  }

  ~Impl() {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    if (heartbeat_.joinable()) heartbeat_.join();
    context_.TryCancel();
  }

  // Serialised writes: the heartbeat thread and the training thread share the stream.
  bool Write(const v1::WorkerMessage& message) {
    absl::MutexLock lock(&write_mutex_);
    if (broken_) return false;
    if (!stream_->Write(message)) broken_ = true;
    return !broken_;
  }

  bool Read(v1::CoordinatorMessage* message) { return stream_->Read(message); }

  // A lost coordinator ends this worker: the coordinator relaunches the job when it is back.
  void StartHeartbeat() {
    heartbeat_ = std::thread([this] {
      absl::MutexLock lock(&mutex_);
      while (!mutex_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Seconds(2))) {
        v1::WorkerMessage beat;
        beat.mutable_heartbeat()->set_work_done(WorkDone());
        if (!Write(beat)) {
          Log("error: lost the coordinator; stopping this job's workers");
          std::_Exit(3);
        }
      }
    });
  }

  std::string Finish() {
    const grpc::Status status = stream_->Finish();
    return status.ok() ? "" : status.error_message();
  }

  std::chrono::steady_clock::time_point last_progress{};

 private:
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::WorkerMessage, v1::CoordinatorMessage>> stream_;
  absl::Mutex write_mutex_;  // the heartbeat thread and the training thread share the stream
  bool broken_ ABSL_GUARDED_BY(write_mutex_) = false;
  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread heartbeat_;
};

CoordinatorSession::CoordinatorSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CoordinatorSession::~CoordinatorSession() = default;

absl::StatusOr<std::unique_ptr<CoordinatorSession>> CoordinatorSession::Connect(
    const std::string& address, const ClientTls& tls, const std::string& token,
    const std::string& job_id, int world_size) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = DialCoordinator(address, tls);
  if (!channel.ok()) return channel.status();
  auto impl = std::make_unique<Impl>(*std::move(channel), token);
  v1::WorkerMessage hello;
  hello.mutable_hello()->set_job_id(job_id);
  hello.mutable_hello()->set_world_size(world_size);
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  hello.mutable_hello()->set_host(host);
  v1::CoordinatorMessage reply;
  if (!impl->Write(hello) || !impl->Read(&reply)) {
    return absl::UnavailableError(
        absl::StrCat("coordinator ", address, " refused job ", job_id, ": ", impl->Finish()));
  }
  if (!reply.has_welcome()) {
    return absl::FailedPreconditionError(
        absl::StrCat("coordinator ", address, " did not accept job ", job_id, ": ", reply.stop()));
  }
  std::unique_ptr<CoordinatorSession> session(new CoordinatorSession(std::move(impl)));
  session->welcome_ = reply.welcome();
  session->impl_->StartHeartbeat();
  return session;
}

void CoordinatorSession::Begin(int64_t resumed_position) {
  Log("attached to the coordinator; resuming at schedule position ", resumed_position);
}

absl::StatusOr<std::optional<PhaseOrder>> CoordinatorSession::NextPhase() {
  v1::CoordinatorMessage message;
  if (!impl_->Read(&message)) {
    return absl::UnavailableError(absl::StrCat("lost the coordinator: ", impl_->Finish()));
  }
  if (message.has_run_phase()) {
    PhaseOrder order;
    order.position = message.run_phase().position();
    order.checkpoint_path = message.run_phase().checkpoint_path();
    return std::optional<PhaseOrder>(order);
  }
  Log("coordinator: stop (", message.stop(), ")");
  return std::optional<PhaseOrder>();
}

void CoordinatorSession::OnProgress(int64_t position, const StepProgress& p, double step_seconds) {
  const auto now = std::chrono::steady_clock::now();
  if (p.iteration != p.iterations && now - impl_->last_progress < std::chrono::seconds(1)) return;
  impl_->last_progress = now;
  v1::WorkerMessage message;
  v1::PhaseProgress* progress = message.mutable_progress();
  progress->set_position(position);
  progress->set_phase(PhaseName(p.phase));
  progress->set_round(p.round);
  progress->set_iteration(p.iteration);
  progress->set_iterations(p.iterations);
  for (const auto& [k, v] : p.losses) (*progress->mutable_losses())[k] = v;
  progress->set_step_seconds(step_seconds);
  progress->set_images_per_second(step_seconds > 0 ? p.images / step_seconds : 0);
  impl_->Write(message);
}

absl::Status CoordinatorSession::OnPhaseDone(int64_t position, const PhaseReport& report) {
  v1::WorkerMessage message;
  message.mutable_result()->set_position(position);
  *message.mutable_result()->mutable_report() = PhaseReportToProto(report);
  impl_->Write(message);  // a lost coordinator surfaces at the next NextPhase
  return absl::OkStatus();
}

void CoordinatorSession::ReportFailure(const std::string& text, bool permanent) {
  v1::WorkerMessage message;
  if (permanent) {
    message.set_permanent_failure(text);
  } else {
    message.set_failure(text);
  }
  impl_->Write(message);
}

}  // namespace ftl
