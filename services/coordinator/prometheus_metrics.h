// The coordinator's Prometheus metrics (prometheus-cpp), served on --metrics_listen.
#ifndef FTL_SERVICES_COORDINATOR_PROMETHEUS_METRICS_H_
#define FTL_SERVICES_COORDINATOR_PROMETHEUS_METRICS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/coordinator/metrics_sink.h"

namespace ftl {

class PrometheusMetrics : public MetricsSink {
 public:
  // Starts the HTTP exposer on `listen` ("127.0.0.1:9464"); /metrics serves the text format. An
  // empty `listen` serves nothing (ExpositionText still works: tests). A finished job's series
  // are removed `retention` after JobFinished (checked every few seconds).
  static absl::StatusOr<std::unique_ptr<PrometheusMetrics>> Serve(
      const std::string& listen, absl::Duration retention = absl::Hours(1));
  ~PrometheusMetrics() override;

  void SetJobsByState(const std::map<v1::JobState, int>& counts) override;
  void SetWorkersAttached(const std::string& job_id, int workers) override;
  void PhaseFinished(const std::string& job_id, const v1::PhaseReport& report) override;
  void Progress(const std::string& job_id, const v1::PhaseProgress& progress) override;
  void WorkerLost(const std::string& job_id) override;
  void JobFinished(const std::string& job_id) override;

  // The text format of every series now (what /metrics would serve).
  std::string ExpositionText() const;
  // Removes the series of jobs whose retention has passed; the sweeper thread calls it.
  void RemoveExpiredJobs();

  class Impl;

 private:
  explicit PrometheusMetrics(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_PROMETHEUS_METRICS_H_
