#include "services/coordinator/prometheus_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/eval/metric_names.h"

namespace ftl {

namespace pm = prometheus;

namespace {

// ftl_evaluation holds only shares in [0, 1] (accuracies, rank-1, TAR, coverage), so one unit
// and one panel fit them all and a new protocol needs no new metric; counts such as verif_pairs
// stay in the job's history.
bool IsShare(const std::string& name) {
  namespace n = metric_names;
  static const std::set<std::string> kShares = {n::kVerifAccF,
                                                n::kVerifAccStdF,
                                                n::kVerifTarFar1e2F,
                                                n::kVerifTarFar1e3F,
                                                n::kVerifAccG,
                                                n::kHoldoutRank1RegularG,
                                                n::kHoldoutRank1UrG,
                                                n::kHoldoutRank1RegularF,
                                                n::kHoldoutRank1UrF,
                                                n::kHoldoutCoverageP99Ur,
                                                n::kHoldoutTop1UrClassifier,
                                                n::kTrainTop1Regular,
                                                n::kTrainTop1Ur};
  // .bin sets (evaluation.bin_sets, at most 8 per job): bin_<set>_acc_f and friends.
  const bool bin_set = name.rfind(n::kBinSetPrefix, 0) == 0 && name.size() <= 96;
  return kShares.count(name) > 0 || bin_set;
}

}  // namespace

class PrometheusMetrics::Impl {
 public:
  Impl(const std::string& listen, absl::Duration retention)
      : retention(retention),
        registry(std::make_shared<pm::Registry>()),
        jobs(pm::BuildGauge().Name("ftl_jobs").Help("Jobs by state.").Register(*registry)),
        workers(pm::BuildGauge()
                    .Name("ftl_workers_attached")
                    .Help("Worker ranks attached to the job.")
                    .Register(*registry)),
        phase_seconds(pm::BuildHistogram()
                          .Name("ftl_phase_duration_seconds")
                          .Help("Wall time of finished phases.")
                          .Register(*registry)),
        images(pm::BuildCounter()
                   .Name("ftl_images_trained_total")
                   .Help("Images (or transferred features) trained on, all ranks.")
                   .Register(*registry)),
        step_seconds(pm::BuildHistogram()
                         .Name("ftl_step_duration_seconds")
                         .Help("Wall time of one training iteration on rank 0.")
                         .Register(*registry)),
        loss(pm::BuildGauge().Name("ftl_loss").Help("Latest loss terms.").Register(*registry)),
        allreduce_seconds(pm::BuildCounter()
                              .Name("ftl_allreduce_seconds_total")
                              .Help("Time rank 0 spent in gradient all-reduce.")
                              .Register(*registry)),
        allreduce_bytes(pm::BuildCounter()
                            .Name("ftl_allreduce_bytes_total")
                            .Help("Gradient bytes all-reduced by rank 0.")
                            .Register(*registry)),
        update_stats_seconds(pm::BuildGauge()
                                 .Name("ftl_update_stats_seconds")
                                 .Help("Duration of the latest UpdateStats phase.")
                                 .Register(*registry)),
        pca_energy(pm::BuildGauge()
                       .Name("ftl_pca_energy_kept_ratio")
                       .Help("Share of the intra-class variance the transfer basis Q keeps.")
                       .Register(*registry)),
        norm_ratio(pm::BuildGauge()
                       .Name("ftl_ur_regular_weight_norm_ratio")
                       .Help("Mean classifier weight norm of UR classes over regular classes.")
                       .Register(*registry)),
        evaluation(pm::BuildGauge()
                       .Name("ftl_evaluation")
                       .Help("Latest evaluation results, each a share in [0, 1] (label metric).")
                       .Register(*registry)),
        worker_losses(pm::BuildCounter()
                          .Name("ftl_worker_losses_total")
                          .Help("Times a job's workers were lost (disconnect, failure, silence).")
                          .Register(*registry)),
        last_progress(pm::BuildGauge()
                          .Name("ftl_last_progress_timestamp_seconds")
                          .Help("Unix time of the job's latest progress report or finished phase.")
                          .Register(*registry)) {
    if (!listen.empty()) {
      exposer.emplace(listen);
      exposer->RegisterCollectable(registry);
    }
  }

  // Family::Add for a job's series, remembering it so that the job's series can be removed.
  template <typename T, typename... Args>
  T& Add(const std::string& job, pm::Family<T>& family, const pm::Labels& labels, Args&&... args)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
    T& metric = family.Add(labels, std::forward<Args>(args)...);
    if (tracked[job].insert(&metric).second) {
      removers[job].push_back([&family, &metric] { family.Remove(&metric); });
    }
    return metric;
  }

  const absl::Duration retention;
  std::optional<pm::Exposer> exposer;
  std::shared_ptr<pm::Registry> registry;
  pm::Family<pm::Gauge>& jobs;
  pm::Family<pm::Gauge>& workers;
  pm::Family<pm::Histogram>& phase_seconds;
  pm::Family<pm::Counter>& images;
  pm::Family<pm::Histogram>& step_seconds;
  pm::Family<pm::Gauge>& loss;
  pm::Family<pm::Counter>& allreduce_seconds;
  pm::Family<pm::Counter>& allreduce_bytes;
  pm::Family<pm::Gauge>& update_stats_seconds;
  pm::Family<pm::Gauge>& pca_energy;
  pm::Family<pm::Gauge>& norm_ratio;
  pm::Family<pm::Gauge>& evaluation;
  pm::Family<pm::Counter>& worker_losses;
  pm::Family<pm::Gauge>& last_progress;
  // The families are thread-safe themselves; the lock keeps one report's updates together and
  // guards the bookkeeping below.
  absl::Mutex mutex;
  std::map<std::string, std::set<const void*>> tracked ABSL_GUARDED_BY(mutex);
  std::map<std::string, std::vector<std::function<void()>>> removers ABSL_GUARDED_BY(mutex);
  std::map<std::string, absl::Time> expires ABSL_GUARDED_BY(mutex);  // finished jobs
  bool stopping ABSL_GUARDED_BY(mutex) = false;
  std::thread sweeper;
};

PrometheusMetrics::PrometheusMetrics(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->sweeper = std::thread([this] {
    const absl::Duration period =
        std::clamp(impl_->retention / 4, absl::Milliseconds(50), absl::Seconds(10));
    absl::MutexLock lock(&impl_->mutex);
    while (!impl_->stopping) {
      impl_->mutex.AwaitWithTimeout(absl::Condition(&impl_->stopping), period);
      if (impl_->stopping) break;
      impl_->mutex.Unlock();
      RemoveExpiredJobs();
      impl_->mutex.Lock();
    }
  });
}

PrometheusMetrics::~PrometheusMetrics() {
  {
    absl::MutexLock lock(&impl_->mutex);
    impl_->stopping = true;
  }
  impl_->sweeper.join();
}

absl::StatusOr<std::unique_ptr<PrometheusMetrics>> PrometheusMetrics::Serve(
    const std::string& listen, absl::Duration retention) {
  try {
    return std::unique_ptr<PrometheusMetrics>(
        new PrometheusMetrics(std::make_unique<Impl>(listen, retention)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen, ": ", e.what()));
  }
}

void PrometheusMetrics::SetJobsByState(const std::map<v1::JobState, int>& counts) {
  absl::MutexLock lock(&impl_->mutex);
  for (const auto& [state, count] : counts) {
    impl_->jobs.Add({{"state", v1::JobState_Name(state)}}).Set(count);
  }
}

void PrometheusMetrics::SetWorkersAttached(const std::string& job_id, int workers) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->Add(job_id, impl_->workers, {{"job_id", job_id}}).Set(workers);
  impl_->Add(job_id, impl_->worker_losses,
             {{"job_id", job_id}});  // exists (at 0) from the job's first attach
}

void PrometheusMetrics::PhaseFinished(const std::string& job, const v1::PhaseReport& report) {
  static const pm::Histogram::BucketBoundaries kPhaseBuckets = {1,   5,   15,   60,
                                                                300, 900, 3600, 14400};
  absl::MutexLock lock(&impl_->mutex);
  const pm::Labels labels = {{"job_id", job}, {"phase", report.phase()}};
  impl_->Add(job, impl_->last_progress, {{"job_id", job}}).SetToCurrentTime();
  impl_->Add(job, impl_->phase_seconds, labels, kPhaseBuckets).Observe(report.seconds());
  if (report.iterations() > 0)
    impl_->Add(job, impl_->images, labels).Increment(static_cast<double>(report.images()));
  const auto& m = report.metrics();
  auto metric = [&m](const char* name, double* out) {
    auto it = m.find(name);
    if (it == m.end()) return false;
    *out = it->second;
    return true;
  };
  double value;
  namespace n = metric_names;
  if (metric(n::kAllreduceSeconds, &value))
    impl_->Add(job, impl_->allreduce_seconds, {{"job_id", job}}).Increment(value);
  if (metric(n::kAllreduceBytes, &value))
    impl_->Add(job, impl_->allreduce_bytes, {{"job_id", job}}).Increment(value);
  if (report.phase() == "update_stats") {
    impl_->Add(job, impl_->update_stats_seconds, {{"job_id", job}}).Set(report.seconds());
    if (metric(n::kPcaEnergyKept, &value))
      impl_->Add(job, impl_->pca_energy, {{"job_id", job}}).Set(value);
  }
  if (metric(n::kUrRegularNormRatioAfter, &value) || metric(n::kUrRegularNormRatio, &value)) {
    impl_->Add(job, impl_->norm_ratio, {{"job_id", job}}).Set(value);
  }
  if (report.phase() == "evaluate") {
    for (const auto& [name, v] : m) {
      if (IsShare(name))
        impl_->Add(job, impl_->evaluation, {{"job_id", job}, {"metric", name}}).Set(v);
    }
  }
}

void PrometheusMetrics::Progress(const std::string& job, const v1::PhaseProgress& p) {
  static const pm::Histogram::BucketBoundaries kStepBuckets = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                               0.25,  0.5,  1,     2.5,  5};
  absl::MutexLock lock(&impl_->mutex);
  impl_->Add(job, impl_->step_seconds, {{"job_id", job}, {"phase", p.phase()}}, kStepBuckets)
      .Observe(p.step_seconds());
  for (const auto& [term, v] : p.losses())
    impl_->Add(job, impl_->loss, {{"job_id", job}, {"term", term}}).Set(v);
  impl_->Add(job, impl_->last_progress, {{"job_id", job}}).SetToCurrentTime();
}

void PrometheusMetrics::WorkerLost(const std::string& job) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->Add(job, impl_->worker_losses, {{"job_id", job}}).Increment();
}

void PrometheusMetrics::JobFinished(const std::string& job) {
  absl::MutexLock lock(&impl_->mutex);
  impl_->expires[job] = absl::Now() + impl_->retention;
}

void PrometheusMetrics::RemoveExpiredJobs() {
  absl::MutexLock lock(&impl_->mutex);
  const absl::Time now = absl::Now();
  for (auto it = impl_->expires.begin(); it != impl_->expires.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    for (const auto& remove : impl_->removers[it->first]) remove();
    impl_->removers.erase(it->first);
    impl_->tracked.erase(it->first);
    it = impl_->expires.erase(it);
  }
}

std::string PrometheusMetrics::ExpositionText() const {
  return pm::TextSerializer().Serialize(impl_->registry->Collect());
}

}  // namespace ftl
