// The coordinator's metrics: a finished job's series stay for the retention period, then go,
// while a running job's stay.
#include "services/coordinator/prometheus_metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace ftl {
namespace {

v1::PhaseReport Phase(const std::string& name) {
  v1::PhaseReport report;
  report.set_phase(name);
  report.set_iterations(10);
  report.set_images(320);
  report.set_seconds(2.5);
  (*report.mutable_metrics())["verif_acc_f"] = 0.9;
  return report;
}

void Report(PrometheusMetrics& metrics, const std::string& job) {
  metrics.SetWorkersAttached(job, 2);
  metrics.PhaseFinished(job, Phase("pretrain"));
  metrics.PhaseFinished(job, Phase("evaluate"));
  v1::PhaseProgress progress;
  progress.set_phase("stage1");
  progress.set_step_seconds(0.1);
  (*progress.mutable_losses())["total"] = 1.5;
  metrics.Progress(job, progress);
  metrics.WorkerLost(job);
}

TEST(PrometheusMetricsTest, FinishedJobsSeriesGoAfterTheRetention) {
  absl::StatusOr<std::unique_ptr<PrometheusMetrics>> served =
      PrometheusMetrics::Serve("", absl::Milliseconds(300));
  ASSERT_TRUE(served.ok()) << served.status();
  PrometheusMetrics& metrics = **served;
  Report(metrics, "job-done");
  Report(metrics, "job-running");
  const std::string before = metrics.ExpositionText();
  for (const char* family :
       {"ftl_workers_attached", "ftl_phase_duration_seconds_count", "ftl_images_trained_total",
        "ftl_step_duration_seconds_count", "ftl_loss", "ftl_evaluation", "ftl_worker_losses_total",
        "ftl_last_progress_timestamp_seconds"}) {
    EXPECT_NE(before.find(std::string(family) + "{job_id=\"job-done\""), std::string::npos)
        << family << " in\n"
        << before;
  }
  metrics.SetWorkersAttached("job-done", 0);
  metrics.JobFinished("job-done");
  // Within the retention the finished job is still shown, with no workers.
  const std::string retained = metrics.ExpositionText();
  EXPECT_NE(retained.find("ftl_workers_attached{job_id=\"job-done\"} 0"), std::string::npos)
      << retained;
  // The sweeper removes it (checked every retention / 4, at least 50 ms).
  std::string after;
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    after = metrics.ExpositionText();
    if (after.find("job-done") == std::string::npos) break;
  }
  EXPECT_EQ(after.find("job-done"), std::string::npos) << after;
  EXPECT_NE(after.find("ftl_workers_attached{job_id=\"job-running\"} 2"), std::string::npos)
      << after;
  EXPECT_NE(after.find("ftl_loss{job_id=\"job-running\""), std::string::npos);
  // A job reporting again after its removal gets fresh series (and is not removed at once).
  Report(metrics, "job-done");
  metrics.RemoveExpiredJobs();
  EXPECT_NE(metrics.ExpositionText().find("job-done"), std::string::npos);
}

}  // namespace
}  // namespace ftl
