// JobManager: the coordinator's core. It admits jobs, queues them, starts at most
// `max_concurrent_jobs` at a time through a Launcher, drives each job's phases (from the core's
// Schedule: the coordinator decides the sequence, workers only execute), keeps every change in the
// JobStore, fans events out to watchers, and retries a job from its last checkpoint when its
// workers are lost. No gRPC here: the service layer adapts streams to WorkerStream.
#ifndef FTL_SERVICES_COORDINATOR_JOB_MANAGER_H_
#define FTL_SERVICES_COORDINATOR_JOB_MANAGER_H_

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "ftl/v1/coordinator.pb.h"
#include "services/coordinator/job_store.h"
#include "services/coordinator/launcher.h"

namespace ftl {

// What the manager reports for metrics (implemented with prometheus-cpp at the edge).
class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  virtual void SetJobsByState(const std::map<v1::JobState, int>& counts) = 0;
  virtual void SetWorkersAttached(const std::string& job_id, int workers) = 0;
  virtual void PhaseFinished(const std::string& job_id, const v1::PhaseReport& report) = 0;
  virtual void Progress(const std::string& job_id, const v1::PhaseProgress& progress) = 0;
  virtual void WorkerLost(const std::string& job_id) = 0;
};

// One attached worker's bidirectional stream.
class WorkerStream {
 public:
  virtual ~WorkerStream() = default;
  virtual bool Read(v1::WorkerMessage* message) = 0;
  virtual bool Write(const v1::CoordinatorMessage& message) = 0;
  // Makes a blocked Read return false (used on heartbeat timeout and cancel).
  virtual void Cancel() = 0;
};

// A watcher's queue of events; closed when the job ends or the manager stops.
class JobSubscription {
 public:
  // Waits up to `timeout_ms` for an event; nullopt on timeout or when closed and drained.
  std::optional<v1::JobEvent> Next(int timeout_ms);
  bool closed();

 private:
  friend class JobManager;
  void Push(const v1::JobEvent& event, bool droppable);
  void Close();

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<v1::JobEvent> events_;
  bool closed_ = false;
};

struct JobManagerOptions {
  std::string state_dir;                 // jobs/<id>/ folders live here
  std::vector<std::string> data_roots;   // allowed data and output roots
  std::string coordinator_address;       // what launched workers dial
  std::string token_file;                // handed to launched workers
  int max_concurrent_jobs = 1;
  double heartbeat_timeout_seconds = 30;
  double attach_timeout_seconds = 300;   // from launch to the worker's hello
};

class JobManager {
 public:
  JobManager(JobManagerOptions options, JobStore* store, Launcher* launcher, MetricsSink* metrics);
  ~JobManager();

  // Loads the store: queued jobs stay queued; running ones are relaunched from their last
  // checkpoint. Then starts the scheduling thread.
  absl::Status Start();
  void Stop();

  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec);
  absl::StatusOr<v1::Job> Get(const std::string& id);
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> Cancel(const std::string& id);
  // Subscribes to a job's events; the first event is a snapshot.
  absl::StatusOr<std::shared_ptr<JobSubscription>> Watch(const std::string& id);

  // Serves one worker's stream until its job ends or the worker is lost (blocking).
  void ServeWorker(WorkerStream& stream);

 private:
  struct Live;  // in-memory state of a running job

  std::string JobDir(const std::string& id) const;
  absl::Status Persist(const v1::Job& job);  // store + metrics gauge
  void Publish(const v1::Job& job, v1::JobEvent event, bool droppable = false);
  void SetState(v1::Job& job, v1::JobState state, const std::string& message);
  void WorkerLost(const std::string& id, const std::string& reason);
  void SchedulerLoop();
  void LaunchLocked(v1::Job& job);
  void UpdateStateGaugeLocked();

  JobManagerOptions options_;
  JobStore* store_;
  Launcher* launcher_;
  MetricsSink* metrics_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, v1::Job> jobs_;  // every job, mirrored from the store
  std::map<std::string, std::unique_ptr<Live>> live_;
  std::map<std::string, std::vector<std::weak_ptr<JobSubscription>>> watchers_;
  std::thread scheduler_;
  uint64_t id_counter_ = 0;
};

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_JOB_MANAGER_H_
