// What the job manager reports for metrics. PrometheusMetrics (prometheus_metrics.h) exposes it;
// NullMetricsSink is for a coordinator run without --metrics_listen and for tests.
#ifndef FTL_SERVICES_COORDINATOR_METRICS_SINK_H_
#define FTL_SERVICES_COORDINATOR_METRICS_SINK_H_

#include <map>
#include <string>

#include "ftl/v1/coordinator.pb.h"

namespace ftl {

class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  virtual void SetJobsByState(const std::map<v1::JobState, int>& counts) = 0;
  virtual void SetWorkersAttached(const std::string& job_id, int workers) = 0;
  virtual void PhaseFinished(const std::string& job_id, const v1::PhaseReport& report) = 0;
  virtual void Progress(const std::string& job_id, const v1::PhaseProgress& progress) = 0;
  virtual void WorkerLost(const std::string& job_id) = 0;
  // The job reached a terminal state: its series stay for the retention period (dashboards show
  // how it ended), then go, so finished jobs do not accumulate in every scrape.
  virtual void JobFinished(const std::string& job_id) = 0;
};

class NullMetricsSink : public MetricsSink {
 public:
  void SetJobsByState(const std::map<v1::JobState, int>&) override {}
  void SetWorkersAttached(const std::string&, int) override {}
  void PhaseFinished(const std::string&, const v1::PhaseReport&) override {}
  void Progress(const std::string&, const v1::PhaseProgress&) override {}
  void WorkerLost(const std::string&) override {}
  void JobFinished(const std::string&) override {}
};

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_METRICS_SINK_H_
