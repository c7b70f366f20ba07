// Rank 0's link to the coordinator: attaches to a job over WorkerService.Attach, receives the job
// spec and phase orders, reports progress (at most once a second), results, and a heartbeat every
// two seconds. If the coordinator goes away the worker stops (a restarted coordinator relaunches
// the job from its last checkpoint).
#ifndef FTL_SERVICES_WORKER_COORDINATOR_CLIENT_H_
#define FTL_SERVICES_WORKER_COORDINATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "ftl/v1/coordinator.pb.h"
#include "services/security/credentials.h"
#include "services/worker/worker_run.h"

namespace ftl {

class CoordinatorSession : public PhaseDriver {
 public:
  // Connects (TLS when tls.ca is set), says hello for `job_id` with the job's worker credential
  // `token` and waits for the welcome (the job spec and where to resume).
  static absl::StatusOr<std::unique_ptr<CoordinatorSession>> Connect(const std::string& address,
                                                                     const ClientTls& tls,
                                                                     const std::string& token,
                                                                     const std::string& job_id,
                                                                     int world_size);
  ~CoordinatorSession() override;

  const v1::Welcome& welcome() const { return welcome_; }

  void Begin(int64_t resumed_position) override;
  absl::StatusOr<std::optional<PhaseOrder>> NextPhase() override;
  void OnProgress(int64_t position, const StepProgress& progress, double step_seconds) override;
  absl::Status OnPhaseDone(int64_t position, const PhaseReport& report) override;
  // Tells the coordinator the job failed on this worker (best effort); `permanent`: no restart
  // can fix it (the worker exits with code 2), so the job is not retried.
  void ReportFailure(const std::string& message, bool permanent = false);

  class Impl;

 private:
  explicit CoordinatorSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  v1::Welcome welcome_;
};

}  // namespace ftl

#endif  // FTL_SERVICES_WORKER_COORDINATOR_CLIENT_H_
