// JobManager: the coordinator's core. It admits jobs, queues them, starts at most
// `max_concurrent_jobs` at a time through a Launcher, drives each job's phases (from the core's
// Schedule: the coordinator decides the sequence, workers only execute), keeps every change in the
// JobStore, fans events out to watchers, and retries a job from its last checkpoint when its
// workers are lost. No gRPC here: the service layer adapts streams to WorkerStream.
#ifndef FTL_SERVICES_COORDINATOR_JOB_MANAGER_H_
#define FTL_SERVICES_COORDINATOR_JOB_MANAGER_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/config/job_config.h"
#include "ftl/v1/coordinator.pb.h"
#include "services/coordinator/job_store.h"
#include "services/coordinator/launcher.h"
#include "services/coordinator/metrics_sink.h"
#include "services/security/credentials.h"

namespace ftl {

// One attached worker's bidirectional stream.
class WorkerStream {
 public:
  virtual ~WorkerStream() = default;
  virtual bool Read(v1::WorkerMessage* message) = 0;
  virtual bool Write(const v1::CoordinatorMessage& message) = 0;
  // The bearer credential the worker presented ("" for none).
  virtual std::string Credential() const { return ""; }
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
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);  // an event, or closed

  mutable absl::Mutex mutex_;
  std::deque<v1::JobEvent> events_ ABSL_GUARDED_BY(mutex_);
  bool closed_ ABSL_GUARDED_BY(mutex_) = false;
};

struct JobManagerOptions {
  std::string state_dir;                // jobs/<id>/ folders live here (made absolute)
  std::vector<std::string> data_roots;  // allowed data and output roots
  std::string coordinator_address;      // what launched workers dial
  // Who may attach as a job's workers (docs/operations.md, "Security model"). When checked: the
  // secret of the job's current launch (written to <job folder>/worker_credential.R.N, 0600, for
  // the workers that launch starts: valid for that job and launch only; none while the job waits
  // for a relaunch), or `external_worker_token` (workers started elsewhere, e.g. Kubernetes). The
  // users' token is never a worker credential.
  bool check_worker_credentials = false;
  std::string external_worker_token;
  ClientTls worker_tls;  // TLS files launched workers dial with
  int max_concurrent_jobs = 1;
  double heartbeat_timeout_seconds = 30;
  // Attached workers whose heartbeat's work count (and progress) has not moved for this long are
  // stuck: the job restarts from its last checkpoint. Longer than the workers' own
  // collective timeout (runtime.collective_timeout_seconds, default 600), whose message is more
  // precise; <= 0: never.
  double stall_timeout_seconds = 1200;
  double attach_timeout_seconds = 300;  // from launch to the worker's hello
  // At start, job folders in STATE_DIR/jobs that hold files but have no record in the store (a
  // store restored from an older backup, or opened without its WAL) stop the start, named; with
  // this set they are moved to STATE_DIR/jobs-without-record instead and the start goes on.
  bool set_aside_job_folders_without_record = false;
};

class JobManager {
 public:
  JobManager(JobManagerOptions options, JobStore* store, Launcher* launcher, MetricsSink* metrics);
  ~JobManager();

  // Loads the store: queued jobs stay queued; running ones are relaunched from their last
  // checkpoint. Then starts the scheduling thread. FailedPrecondition, with what to do, for an
  // empty store beside job folders (a lost or replaced jobs.db would otherwise start empty).
  absl::Status Start();
  void Stop();

  // Admits and queues a job. With a `request_id` another job already has, returns that job
  // unchanged (an idempotent retry).
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& spec, const std::string& request_id = "");
  absl::StatusOr<v1::Job> Get(const std::string& id);
  // A piece of the job's worker.log (v1::ReadJobLogRequest's offset and max_bytes); a log not
  // written yet reads as empty. NotFound for an unknown job. The file is read outside the lock.
  absl::StatusOr<v1::JobLogChunk> ReadLog(const v1::ReadJobLogRequest& request);
  absl::StatusOr<v1::ListJobsResponse> List(const v1::ListJobsRequest& request);
  absl::StatusOr<v1::Job> Cancel(const std::string& id);
  // Subscribes to a job's events; the first event is a snapshot.
  absl::StatusOr<std::shared_ptr<JobSubscription>> Watch(const std::string& id);

  // Serves one worker's stream until its job ends or the worker is lost (blocking).
  void ServeWorker(WorkerStream& stream);

 private:
  struct Live;  // in-memory state of a running job
  // A worker's Read/Write happen outside the lock; these handle what came in under it.
  struct Attach {
    v1::CoordinatorMessage reply;  // welcome, or stop with the refusal
    bool attached = false;
  };

  std::string JobDir(const std::string& id) const;
  // Start's check of STATE_DIR/jobs against the records loaded into jobs_ (and the ids the store
  // quarantined): see JobManagerOptions::set_aside_job_folders_without_record.
  absl::Status CheckJobFolders(const std::vector<std::string>& quarantined)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status Persist(const v1::Job& job);  // the store has its own lock
  void Publish(const v1::Job& job, v1::JobEvent event, bool droppable = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void SetState(v1::Job& job, v1::JobState state, const std::string& message)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void WorkerLost(const std::string& id, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void SchedulerLoop() ABSL_LOCKS_EXCLUDED(mutex_);
  void Launch(v1::Job& job) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void UpdateStateGauge() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Admits the worker of `id` at `stream` for a running job without workers, or refuses it.
  Attach OnHello(WorkerStream& stream, const v1::WorkerHello& hello, const std::string& credential)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // The order for the job's next phase: run it (setting `position`), or stop (job done, ended, or
  // this stream no longer its workers).
  v1::CoordinatorMessage NextOrder(const std::string& id, WorkerStream& stream, int64_t* position)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // One message of the worker running `position`; true once its result is recorded. False and
  // `detached` when the job no longer belongs to this stream (cancelled).
  bool OnWorkerMessage(const std::string& id, WorkerStream& stream, int64_t position,
                       const v1::WorkerMessage& message, bool* detached)
      ABSL_LOCKS_EXCLUDED(mutex_);
  void OnProgress(const std::string& id, Live& live, v1::Job& job, int64_t position,
                  const v1::PhaseProgress& progress) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void OnResult(const std::string& id, Live& live, v1::Job& job, int64_t position,
                const v1::PhaseReport& report) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Detaches `stream` and reports the loss, unless the job already moved on (cancelled).
  void StreamLost(const std::string& id, WorkerStream& stream, const std::string& fallback_reason)
      ABSL_LOCKS_EXCLUDED(mutex_);

  JobManagerOptions options_;
  JobStore* store_;
  Launcher* launcher_;
  MetricsSink* metrics_;

  absl::Mutex mutex_;
  absl::CondVar wake_;  // the scheduler: a job was queued, lost, or the manager stops
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::map<std::string, v1::Job> jobs_
      ABSL_GUARDED_BY(mutex_);  // every job, mirrored from the store
  std::map<std::string, std::unique_ptr<Live>> live_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, std::vector<std::weak_ptr<JobSubscription>>> watchers_
      ABSL_GUARDED_BY(mutex_);
  std::thread scheduler_;
  std::vector<std::thread> launch_stoppers_
      ABSL_GUARDED_BY(mutex_);  // launcher_->Stop of lost launches
  uint64_t id_counter_ ABSL_GUARDED_BY(mutex_) = 0;
};

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_JOB_MANAGER_H_
