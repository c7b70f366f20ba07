#include "services/coordinator/job_manager.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint/checkpoint_names.h"
#include "common/config/job_spec_conversion.h"
#include "common/eval/metric_names.h"
#include "common/schedule/job_schedule.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "services/coordinator/spec_validation.h"
#include "services/coordinator/worker_reports.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool Terminal(v1::JobState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

// ---------------------------------------------------------------- JobSubscription

std::optional<v1::JobEvent> JobSubscription::Next(int timeout_ms) {
  absl::MutexLock lock(&mutex_);
  mutex_.AwaitWithTimeout(absl::Condition(this, &JobSubscription::Ready),
                          absl::Milliseconds(timeout_ms));
  if (events_.empty()) return std::nullopt;
  v1::JobEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

bool JobSubscription::Ready() const { return closed_ || !events_.empty(); }

bool JobSubscription::closed() {
  absl::MutexLock lock(&mutex_);
  return closed_ && events_.empty();
}

void JobSubscription::Push(const v1::JobEvent& event, bool droppable) {
  absl::MutexLock lock(&mutex_);
  // A slow watcher loses progress ticks, never phase or state events: memory stays bounded.
  if (droppable && events_.size() >= 256) return;
  events_.push_back(event);
}

void JobSubscription::Close() {
  absl::MutexLock lock(&mutex_);
  closed_ = true;
}

// ---------------------------------------------------------------- JobManager

struct JobManager::Live {
  explicit Live(JobConfig c) : config(std::move(c)), schedule(ScheduleConfigFor(config)) {}
  JobConfig config;  // the validated spec: rank count, restart limit
  Schedule schedule;
  std::string handle;
  bool needs_launch = true;
  Clock::time_point launched_at;
  WorkerStream* stream = nullptr;
  Clock::time_point last_heard;
  // The heartbeat's work count and when it (or a progress report or result) last moved: workers
  // that beat but do not move are stuck (--stall_timeout).
  int64_t work_done = -1;
  Clock::time_point last_moved;
  std::string worker_credential;  // of the current launch ("" until it is launched)
  std::string credential_file;    // where the current launch's credential is
  int launches = 0;
  std::set<std::string> loss_terms;  // label values this job's workers created (bounded)
  std::string lost_reason;           // set before cancelling the stream on purpose
  bool permanent_failure = false;    // the workers said a restart cannot help
};

JobManager::JobManager(JobManagerOptions options, JobStore* store, Launcher* launcher,
                       MetricsSink* metrics)
    : options_(std::move(options)), store_(store), launcher_(launcher), metrics_(metrics) {
  // Job folders are handed to workers that run elsewhere (in the job folder itself, on other
  // nodes): never relative to this process's working folder.
  std::error_code ec;
  options_.state_dir = fs::weakly_canonical(fs::absolute(options_.state_dir, ec), ec).string();
}

JobManager::~JobManager() { Stop(); }

std::string JobManager::JobDir(const std::string& id) const {
  return (fs::path(options_.state_dir) / "jobs" / id).string();
}

absl::Status JobManager::CheckJobFolders(const std::vector<std::string>& quarantined) {
  const fs::path jobs_dir = fs::path(options_.state_dir) / "jobs";
  const std::set<std::string> set_aside(quarantined.begin(), quarantined.end());
  std::vector<std::string> with_files, empty;
  std::error_code ec;
  for (fs::directory_iterator it(jobs_dir, ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::error_code entry_error;
    const std::string name = it->path().filename().string();
    if (!it->is_directory(entry_error) || jobs_.count(name) > 0 || set_aside.count(name) > 0)
      continue;
    (fs::is_empty(it->path(), entry_error) ? empty : with_files).push_back(name);
  }
  std::sort(with_files.begin(), with_files.end());
  std::sort(empty.begin(), empty.end());
  // An empty store beside job folders, even empty ones, was lost or replaced (a zero-byte
  // jobs.db): starting would forget every job. Otherwise an empty folder without a record is a
  // submission cut short between making its folder and storing it: logged, left alone.
  std::vector<std::string> orphans = with_files;
  if (jobs_.empty()) {
    orphans.insert(orphans.end(), empty.begin(), empty.end());
    std::sort(orphans.begin(), orphans.end());
  } else {
    for (const std::string& name : empty)
      Log("job store: job folder '", (jobs_dir / name).string(),
          "' is empty and has no record (a submission cut short); left in place");
  }
  if (orphans.empty()) return absl::OkStatus();
  const std::string set_aside_dir = (fs::path(options_.state_dir) / "jobs-without-record").string();
  if (!options_.set_aside_job_folders_without_record) {
    std::vector<std::string> named(orphans.begin(),
                                   orphans.begin() + std::min<size_t>(3, orphans.size()));
    return absl::FailedPreconditionError(absl::StrCat(
        jobs_.empty() ? "the job store is empty, but '" : "'", jobs_dir.string(), "' holds ",
        orphans.size(), " job folder(s) with no record in the job store (",
        absl::StrJoin(named, ", "), orphans.size() > named.size() ? ", ..." : "",
        "): jobs.db was lost, replaced or restored from an older copy. Restore jobs.db (with "
        "jobs.db-wal) from a backup, or start with --set_aside_job_folders_without_record to move "
        "them to '",
        set_aside_dir, "'"));
  }
  fs::create_directories(set_aside_dir, ec);
  for (const std::string& name : orphans) {
    const fs::path to = fs::path(set_aside_dir) / name;
    fs::rename(jobs_dir / name, to, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot move job folder '",
                                              (jobs_dir / name).string(), "' to '", to.string(),
                                              "': ", ec.message()));
    }
    Log("job store: job folder '", name, "' has no record; moved to ", to.string());
  }
  return absl::OkStatus();
}

absl::Status JobManager::Start() {
  std::vector<std::pair<std::string, std::string>> stale;  // (id, handle) of old launches
  {
    absl::MutexLock lock(&mutex_);
    std::string after;
    for (;;) {
      absl::StatusOr<std::vector<v1::Job>> page =
          store_->List(v1::JOB_STATE_UNSPECIFIED, after, 500);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      for (v1::Job& job : *page) {
        after = job.id();
        jobs_[job.id()] = job;
      }
    }
    absl::StatusOr<std::vector<std::string>> quarantined = store_->QuarantinedIds();
    if (!quarantined.ok()) return quarantined.status();
    FTL_RETURN_IF_ERROR(CheckJobFolders(*quarantined));
    int recovered = 0, queued = 0;
    for (auto& [id, job] : jobs_) {
      if (job.state() == v1::QUEUED) ++queued;
      if (job.state() != v1::RUNNING) continue;
      if (!job.launch_handle().empty()) stale.emplace_back(id, job.launch_handle());
      absl::StatusOr<JobConfig> config = JobConfigFromSpec(job.spec());
      if (!config.ok()) {
        SetState(job, v1::FAILED, absl::StrCat("cannot recover: ", config.status().message()));
        continue;
      }
      auto live = std::make_unique<Live>(*std::move(config));
      job.set_position(job.restart_position());
      job.set_phase("");
      job.set_workers_attached(0);
      job.set_message(absl::StrCat("recovered after a coordinator restart; resuming at phase ",
                                   job.restart_position()));
      Persist(job).IgnoreError();
      live_[id] = std::move(live);
      ++recovered;
    }
    UpdateStateGauge();
    Log(absl::StrFormat(
        "job store: %d jobs, %d queued, %d running relaunched from their last checkpoint",
        jobs_.size(), queued, recovered));
  }
  for (const auto& [id, handle] : stale) launcher_->Stop(id, handle);
  scheduler_ = std::thread([this] { SchedulerLoop(); });
  return absl::OkStatus();
}

void JobManager::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [id, list] : watchers_) {
      for (auto& weak : list) {
        if (auto s = weak.lock()) s->Close();
      }
    }
    for (auto& [id, live] : live_) {
      if (live->stream) live->stream->Cancel();
    }
    wake_.SignalAll();
  }
  if (scheduler_.joinable()) scheduler_.join();
  // The launcher stops still under way: they use launcher_, which must not outlive them.
  std::vector<std::thread> stoppers;
  {
    absl::MutexLock lock(&mutex_);
    stoppers.swap(launch_stoppers_);
  }
  for (std::thread& stopper : stoppers) stopper.join();
}

absl::Status JobManager::Persist(const v1::Job& job) {
  absl::Status status = store_->Put(job);
  if (!status.ok()) Log("error: ", status.message());
  return status;
}

void JobManager::UpdateStateGauge() {
  std::map<v1::JobState, int> counts = {
      {v1::QUEUED, 0}, {v1::RUNNING, 0}, {v1::SUCCEEDED, 0}, {v1::FAILED, 0}, {v1::CANCELLED, 0}};
  for (const auto& [id, job] : jobs_) counts[job.state()]++;
  metrics_->SetJobsByState(counts);
}

void JobManager::Publish(const v1::Job& job, v1::JobEvent event, bool droppable) {
  event.set_time_ms(NowMs());
  *event.mutable_job() = job;
  event.mutable_job()->clear_history();
  auto it = watchers_.find(job.id());
  if (it == watchers_.end()) return;
  for (auto& weak : it->second) {
    if (auto s = weak.lock()) {
      s->Push(event, droppable);
      if (Terminal(job.state())) s->Close();
    }
  }
  if (Terminal(job.state())) watchers_.erase(it);
}

void JobManager::SetState(v1::Job& job, v1::JobState state, const std::string& message) {
  job.set_state(state);
  // Bounded: a worker's failure text ends up here, and every GetJob and watch event carries it.
  constexpr size_t kMaxMessageBytes = 4096;
  size_t cut = message.size();
  if (cut > kMaxMessageBytes) {
    cut = kMaxMessageBytes;
    // Not inside a UTF-8 character: proto3 strings must stay valid UTF-8 to parse again.
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xc0) == 0x80) --cut;
  }
  job.set_message(cut < message.size() ? absl::StrCat(message.substr(0, cut), " [...]") : message);
  if (state == v1::RUNNING && job.start_time_ms() == 0) job.set_start_time_ms(NowMs());
  if (Terminal(state)) {
    job.set_end_time_ms(NowMs());
    job.set_phase("");
    job.set_workers_attached(0);
  }
  Persist(job).IgnoreError();
  UpdateStateGauge();
  if (Terminal(state)) {
    metrics_->SetWorkersAttached(job.id(), 0);  // an ended job must not look stalled
    metrics_->JobFinished(job.id());
  }
  v1::JobEvent event;
  event.set_state_changed(state);
  Publish(job, event);
  Log("job ", job.id(), ": ", v1::JobState_Name(state),
      message.empty() ? "" : " (" + message + ")");
}

namespace {

// CRC-32 of the spec's deterministic serialisation (stable across coordinator restarts).
uint32_t SpecCrc(const v1::JobSpec& spec) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    spec.SerializeToCodedStream(&coded);
  }
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

}  // namespace

absl::StatusOr<v1::Job> JobManager::Submit(const v1::JobSpec& spec, const std::string& request_id) {
  absl::StatusOr<AdmittedSpec> admitted = ValidateJobSpec(spec, options_.data_roots);
  if (!admitted.ok()) return admitted.status();
  absl::MutexLock lock(&mutex_);
  if (stopping_) return absl::UnavailableError("coordinator is shutting down");
  if (request_id.size() > 128) {
    return absl::InvalidArgumentError("request_id: at most 128 bytes");
  }
  const uint32_t spec_crc = SpecCrc(spec);
  if (!request_id.empty()) {
    for (const auto& [id, existing] : jobs_) {
      if (existing.request_id() == request_id) {
        // A record from before request_spec_crc has 0: it cannot be checked.
        if (existing.request_spec_crc() != 0 && existing.request_spec_crc() != spec_crc) {
          return absl::AlreadyExistsError(absl::StrCat(
              "request_id '", request_id, "' was used by job ", id,
              " with another spec; a retry must send the same spec (or use a new request_id)"));
        }
        Log("job ", id, ": submission ", request_id, " retried; returning the existing job");
        v1::Job copy = existing;
        copy.clear_history();
        return copy;
      }
    }
  }
  v1::Job job;
  job.set_request_id(request_id);
  if (!request_id.empty()) job.set_request_spec_crc(spec_crc);
  job.set_id(absl::StrFormat("job-%013d-%04d", NowMs(), id_counter_++ % 10000));
  *job.mutable_spec() = admitted->spec;  // input paths resolved: what the workers will read
  // The job's folder: ID under an absolute runtime.output_dir, else state_dir/jobs/ID, with a
  // relative output_dir a folder inside that (spec_validation.h).
  const fs::path given(admitted->spec.runtime().output_dir());
  const std::string dir = given.is_absolute()
                              ? (given / job.id()).string()
                              : (fs::path(JobDir(job.id())) / given).lexically_normal().string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("cannot create job folder '", dir, "': ", ec.message()));
  job.mutable_spec()->mutable_runtime()->set_output_dir(fs::canonical(dir, ec).string());
  job.set_num_phases(Schedule(ScheduleConfigFor(admitted->config)).num_phases());
  job.set_create_time_ms(NowMs());
  job.set_state(v1::QUEUED);
  absl::Status stored = Persist(job);
  if (!stored.ok()) {
    // No record, so no folder: a folder without a record would stop the next start.
    fs::remove_all(given.is_absolute() ? fs::path(dir) : fs::path(JobDir(job.id())), ec);
    return stored;
  }
  jobs_[job.id()] = job;
  UpdateStateGauge();
  Log("job ", job.id(), ": QUEUED (", spec.name(), ")");
  wake_.SignalAll();
  return job;
}

absl::StatusOr<v1::Job> JobManager::Get(const std::string& id) {
  absl::MutexLock lock(&mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", id, "'"));
  return it->second;
}

absl::StatusOr<v1::JobLogChunk> JobManager::ReadLog(const v1::ReadJobLogRequest& request) {
  constexpr int64_t kMaxChunk = int64_t{1} << 20;  // well inside gRPC's 4 MB message limit
  std::string path;
  bool ended = false;
  {
    absl::MutexLock lock(&mutex_);
    auto it = jobs_.find(request.id());
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", request.id(), "'"));
    path = (fs::path(it->second.spec().runtime().output_dir()) / "worker.log").string();
    const v1::JobState state = it->second.state();
    ended = state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
  }
  v1::JobLogChunk chunk;
  chunk.set_job_ended(ended);
  // O_NOFOLLOW: the log itself is never a link the workers' side could point elsewhere;
  // O_NONBLOCK: a FIFO put in its place must not hold this thread (S_ISREG refuses it below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return chunk;  // no worker has written yet
    return absl::InternalError(
        absl::StrCat("cannot read the log of job ", request.id(), ": ", std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return absl::InternalError(absl::StrCat("the log of job ", request.id(), " is not a file"));
  }
  const int64_t size = info.st_size;
  int64_t offset = request.offset() < 0 ? std::max<int64_t>(0, size + request.offset())
                                        : std::min<int64_t>(request.offset(), size);
  const int64_t want =
      request.max_bytes() > 0 ? std::min<int64_t>(request.max_bytes(), kMaxChunk) : kMaxChunk;
  std::string data(static_cast<size_t>(std::min(want, size - offset)), '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::pread(fd, data.data() + got, data.size() - got,
                              static_cast<off_t>(offset + static_cast<int64_t>(got)));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(got);
  chunk.set_offset(offset);
  chunk.set_next_offset(offset + static_cast<int64_t>(got));
  chunk.set_size(size);
  chunk.set_data(std::move(data));
  return chunk;
}

absl::StatusOr<v1::ListJobsResponse> JobManager::List(const v1::ListJobsRequest& request) {
  int size = request.page_size() > 0 ? request.page_size() : 50;
  if (size > 1000) return absl::InvalidArgumentError("page_size: must be at most 1000");
  // A page also ends at kPageBytes, so no mix of jobs can push a reply past gRPC's 4 MB limit.
  constexpr size_t kPageBytes = 1 << 20;
  absl::MutexLock lock(&mutex_);
  v1::ListJobsResponse response;
  size_t bytes = 0;
  for (auto it = jobs_.upper_bound(request.page_token()); it != jobs_.end(); ++it) {
    if (request.state() != v1::JOB_STATE_UNSPECIFIED && it->second.state() != request.state())
      continue;
    if (response.jobs_size() == size || (response.jobs_size() > 0 && bytes >= kPageBytes)) {
      response.set_next_page_token(response.jobs(response.jobs_size() - 1).id());
      break;
    }
    // A summary: the spec's name, not the spec (GetJob has it), so a page of 1000 jobs stays
    // well under gRPC's 4 MB message limit whatever the jobs hold.
    v1::Job* job = response.add_jobs();
    *job = it->second;
    job->clear_history();
    job->clear_spec();
    job->mutable_spec()->set_name(it->second.spec().name());
    bytes += job->ByteSizeLong();
  }
  return response;
}

absl::StatusOr<v1::Job> JobManager::Cancel(const std::string& id) {
  std::string handle;
  v1::Job result;
  {
    absl::MutexLock lock(&mutex_);
    auto it = jobs_.find(id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", id, "'"));
    v1::Job& job = it->second;
    if (Terminal(job.state())) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", id, " has already ended (", v1::JobState_Name(job.state()), ")"));
    }
    auto live = live_.find(id);
    metrics_->SetWorkersAttached(id, 0);  // a cancelled job must not look stalled
    if (live != live_.end()) {
      handle = live->second->handle;
      if (live->second->stream) live->second->stream->Cancel();
      live_.erase(live);
    }
    SetState(job, v1::CANCELLED, "cancelled by request");
    result = job;
  }
  // Outside the lock: stopping waits for the processes to go.
  if (!handle.empty()) launcher_->Stop(id, handle);
  return result;
}

absl::StatusOr<std::shared_ptr<JobSubscription>> JobManager::Watch(const std::string& id) {
  absl::MutexLock lock(&mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job '", id, "'"));
  auto subscription = std::make_shared<JobSubscription>();
  v1::JobEvent snapshot;
  snapshot.set_state_changed(it->second.state());
  snapshot.set_time_ms(NowMs());
  *snapshot.mutable_job() = it->second;
  snapshot.mutable_job()->clear_history();
  subscription->Push(snapshot, false);
  if (Terminal(it->second.state())) {
    subscription->Close();
  } else {
    auto& list = watchers_[id];
    list.erase(std::remove_if(list.begin(), list.end(), [](auto& w) { return w.expired(); }),
               list.end());
    list.push_back(subscription);
  }
  return subscription;
}

void JobManager::Launch(v1::Job& job) {
  Live& live = *live_[job.id()];
  // What was admitted may have changed on disk since (a symlink repointed out of the roots).
  const absl::Status paths =
      CheckPathsAtLaunch(job.spec(), options_.data_roots, options_.state_dir);
  if (!paths.ok()) {
    live_.erase(job.id());
    SetState(job, v1::FAILED, absl::StrCat("not launched: ", paths.message()));
    return;
  }
  LaunchRequest request;
  request.job_id = job.id();
  request.job_dir = job.spec().runtime().output_dir();
  request.ranks = live.config.runtime.ranks;
  request.coordinator = options_.coordinator_address;
  request.tls = options_.worker_tls;
  // A fresh credential per launch, in a file of its own: workers of an earlier launch of this job
  // (still being stopped) can neither come back nor read the new one.
  std::error_code ec;
  if (!live.credential_file.empty()) fs::remove(live.credential_file, ec);
  live.worker_credential = RandomSecret();
  live.credential_file = (fs::path(request.job_dir) /
                          absl::StrCat("worker_credential.", job.restarts(), ".", live.launches++))
                             .string();
  request.credential_file = live.credential_file;
  const absl::Status written = WriteSecretFile(request.credential_file, live.worker_credential);
  if (!written.ok()) {
    live_.erase(job.id());
    SetState(job, v1::FAILED, absl::StrCat("launch failed: ", written.message()));
    return;
  }
  absl::StatusOr<std::string> handle = launcher_->Launch(request);
  live.needs_launch = false;
  live.launched_at = Clock::now();
  if (!handle.ok()) {
    live_.erase(job.id());
    SetState(job, v1::FAILED, absl::StrCat("launch failed: ", handle.status().message()));
    return;
  }
  live.handle = *handle;
  job.set_launch_handle(*handle);
  Persist(job).IgnoreError();
  Log("job ", job.id(), ": launched workers (", *handle, "), starting at phase ", job.position());
}

// Called with the lock held; the launcher is stopped by the caller's thread after unlocking.
void JobManager::WorkerLost(const std::string& id, const std::string& reason) {
  auto job_it = jobs_.find(id);
  auto live_it = live_.find(id);
  if (job_it == jobs_.end() || live_it == live_.end() || job_it->second.state() != v1::RUNNING)
    return;
  v1::Job& job = job_it->second;
  Live& live = *live_it->second;
  const std::string handle = live.handle;
  metrics_->SetWorkersAttached(id, 0);
  metrics_->WorkerLost(id);
  job.set_workers_attached(0);
  const int max_restarts = live.config.runtime.max_restarts;
  if (live.permanent_failure) {
    live_.erase(live_it);
    SetState(job, v1::FAILED, absl::StrCat("not retried (a restart cannot fix this): ", reason));
  } else if (job.restarts() < max_restarts) {
    job.set_restarts(job.restarts() + 1);
    job.set_position(job.restart_position());
    job.set_phase("");
    live.stream = nullptr;
    live.lost_reason.clear();
    live.needs_launch = true;
    SetState(job, v1::RUNNING,
             absl::StrFormat("restart %d of %d from phase %d after: %s", job.restarts(),
                             max_restarts, job.restart_position(), reason));
  } else {
    live_.erase(live_it);
    SetState(job, v1::FAILED,
             absl::StrCat("workers lost ", max_restarts + 1, " times; last: ", reason));
  }
  // Make sure nothing of the lost launch keeps running (a relaunch would write the same folder).
  // Off this thread (it waits for the processes to go); joined by Stop().
  launch_stoppers_.emplace_back([this, id, handle] { launcher_->Stop(id, handle); });
  wake_.SignalAll();
}

void JobManager::SchedulerLoop() {
  absl::MutexLock lock(&mutex_);
  while (!stopping_) {
    for (auto it = live_.begin(); it != live_.end();) {
      const std::string id = it->first;
      Live& live = *it->second;
      ++it;  // WorkerLost may erase the current entry
      v1::Job& job = jobs_[id];
      if (live.needs_launch) {
        Launch(job);
      } else if (live.stream == nullptr) {
        if (!launcher_->Running(live.handle)) {
          WorkerLost(id, "workers exited before attaching (see worker.log in the job folder)");
        } else if (Since(live.launched_at) > options_.attach_timeout_seconds) {
          WorkerLost(id, absl::StrFormat("no worker attached within %.0f s",
                                         options_.attach_timeout_seconds));
        }
      } else if (Since(live.last_heard) > options_.heartbeat_timeout_seconds &&
                 live.lost_reason.empty()) {
        live.lost_reason =
            absl::StrFormat("no heartbeat for %.0f s", options_.heartbeat_timeout_seconds);
        live.stream->Cancel();
      } else if (options_.stall_timeout_seconds > 0 &&
                 Since(live.last_moved) > options_.stall_timeout_seconds &&
                 live.lost_reason.empty()) {
        live.lost_reason = absl::StrFormat(
            "workers alive but stuck: no progress for %.0f s in phase %d (%s; work count %d) "
            "-- see worker.log in the job folder",
            options_.stall_timeout_seconds, job.position(),
            job.phase().empty() ? "starting" : job.phase(), live.work_done);
        live.stream->Cancel();
      }
    }
    int running = static_cast<int>(live_.size());
    for (auto& [id, job] : jobs_) {
      if (running >= options_.max_concurrent_jobs) break;
      if (job.state() != v1::QUEUED) continue;
      absl::StatusOr<JobConfig> config = JobConfigFromSpec(job.spec());
      if (!config.ok()) {
        SetState(job, v1::FAILED, std::string(config.status().message()));
        continue;
      }
      live_[id] = std::make_unique<Live>(*std::move(config));
      SetState(job, v1::RUNNING, "");
      Launch(job);
      ++running;
    }
    wake_.WaitWithTimeout(&mutex_, absl::Milliseconds(250));
  }
}

JobManager::Attach JobManager::OnHello(WorkerStream& stream, const v1::WorkerHello& hello,
                                       const std::string& credential) {
  const std::string& id = hello.job_id();
  Attach attach;
  absl::MutexLock lock(&mutex_);
  auto job_it = jobs_.find(id);
  auto live_it = live_.find(id);
  std::string refusal;
  // The credential first: without one, the reply is the same whether the job exists or not, and
  // whatever its state (Attach needs no user token, so it must not tell which job ids exist).
  const bool external = !options_.external_worker_token.empty() &&
                        SameSecret(credential, options_.external_worker_token);
  const bool launched = live_it != live_.end() && !live_it->second->needs_launch &&
                        SameSecret(credential, live_it->second->worker_credential);
  if (options_.check_worker_credentials && !external && !launched) {
    refusal = absl::StrCat("job ", id,
                           ": not this job's worker credential (launched workers read it from "
                           "--token_file; the users' token cannot attach workers)");
    Log("job ", id, ": refused a worker from ", hello.host(), " without its credential");
  } else if (job_it == jobs_.end()) {
    refusal = absl::StrCat("no job '", id, "'");
  } else if (live_it == live_.end() || job_it->second.state() != v1::RUNNING) {
    refusal = absl::StrCat("job ", id, " is ", v1::JobState_Name(job_it->second.state()));
  } else if (options_.check_worker_credentials && live_it->second->needs_launch) {
    // Recovered at start or lost a moment ago: no launch is current, so no credential is valid
    // (not even an empty one) until the relaunch.
    refusal = absl::StrCat("job ", id, " is being relaunched; its new workers will attach");
  } else if (live_it->second->stream != nullptr) {
    refusal = absl::StrCat("job ", id, " already has workers attached");
  }
  if (!refusal.empty()) {
    attach.reply.set_stop(refusal);
    return attach;
  }
  v1::Job& job = job_it->second;
  Live& live = *live_it->second;
  live.stream = &stream;
  live.last_heard = Clock::now();
  live.last_moved = live.last_heard;
  live.work_done = -1;
  job.set_workers_attached(hello.world_size());
  metrics_->SetWorkersAttached(id, hello.world_size());
  *attach.reply.mutable_welcome()->mutable_spec() = job.spec();
  if (job.restart_position() > 0)
    attach.reply.mutable_welcome()->set_resume_checkpoint(job.checkpoint());
  attach.attached = true;
  Log("job ", id, ": ", hello.world_size(), " worker rank(s) attached from ", hello.host());
  return attach;
}

void JobManager::StreamLost(const std::string& id, WorkerStream& stream,
                            const std::string& fallback_reason) {
  absl::MutexLock lock(&mutex_);
  auto live_it = live_.find(id);
  if (live_it == live_.end() || live_it->second->stream != &stream) return;
  if (stopping_) {  // the coordinator is going away: the job resumes at the next start
    live_it->second->stream = nullptr;
    return;
  }
  const std::string reason =
      live_it->second->lost_reason.empty() ? fallback_reason : live_it->second->lost_reason;
  live_it->second->stream = nullptr;
  WorkerLost(id, reason);
}

v1::CoordinatorMessage JobManager::NextOrder(const std::string& id, WorkerStream& stream,
                                             int64_t* position) {
  v1::CoordinatorMessage order;
  absl::MutexLock lock(&mutex_);
  auto live_it = live_.find(id);
  v1::Job& job = jobs_[id];
  if (live_it == live_.end() || live_it->second->stream != &stream || job.state() != v1::RUNNING) {
    order.set_stop(absl::StrCat("job is ", v1::JobState_Name(job.state())));
    return order;
  }
  const std::optional<Phase> phase = live_it->second->schedule.PhaseAt(job.position());
  if (!phase) {
    live_.erase(live_it);
    metrics_->SetWorkersAttached(id, 0);
    job.set_progress(1.0);
    SetState(job, v1::SUCCEEDED, "");
    order.set_stop("done");
    return order;
  }
  *position = job.position();
  job.set_phase(PhaseName(phase->kind));
  v1::JobEvent started;
  started.set_phase_started(job.phase());
  Publish(job, started);
  order.mutable_run_phase()->set_position(*position);
  order.mutable_run_phase()->set_checkpoint_path(
      CheckpointFileName(job.spec().runtime().output_dir(), *position));
  return order;
}

void JobManager::OnProgress(const std::string& id, Live& live, v1::Job& job, int64_t position,
                            const v1::PhaseProgress& reported) {
  // Label values come from the coordinator where it can (the phase it ordered) and are bounded
  // where only the worker knows them (loss terms): a worker cannot create series without end.
  constexpr size_t kMaxLossTerms = 16, kMaxTermBytes = 32;
  v1::PhaseProgress progress = reported;
  BoundPhaseProgress(progress);
  progress.set_phase(job.phase());
  progress.set_position(position);
  auto* losses = progress.mutable_losses();
  for (auto it = losses->begin(); it != losses->end();) {
    const bool known = live.loss_terms.count(it->first) > 0;
    if (!known && (live.loss_terms.size() >= kMaxLossTerms || it->first.size() > kMaxTermBytes)) {
      it = losses->erase(it);
      continue;
    }
    live.loss_terms.insert(it->first);
    ++it;
  }
  const int64_t total = std::max<int64_t>(1, live.schedule.total_iterations());
  job.set_progress(std::min(
      1.0, static_cast<double>(live.schedule.IterationsBefore(position) + progress.iteration()) /
               total));
  v1::JobEvent event;
  *event.mutable_progress() = progress;
  Publish(job, event, /*droppable=*/true);
  metrics_->Progress(id, progress);
}

void JobManager::OnResult(const std::string& id, Live& live, v1::Job& job, int64_t position,
                          const v1::PhaseReport& reported) {
  v1::PhaseReport report = reported;
  BoundPhaseReport(report);
  report.set_phase(job.phase());  // the phase it was ordered to run (a metric label)
  // Metric names become label values: a .bin set's only for the sets this job names.
  std::set<std::string> allowed;
  for (const std::string& set : job.spec().evaluation().bin_sets()) {
    const std::string stem = fs::path(set).stem().string();
    for (const char* what : {"acc_f", "acc_std_f", "tar_far1e3_f", "acc_g"})
      allowed.insert(metric_names::BinSetMetric(stem, what));
  }
  auto* metrics = report.mutable_metrics();
  for (auto it = metrics->begin(); it != metrics->end();) {
    const bool bin_set = it->first.rfind(metric_names::kBinSetPrefix, 0) == 0;
    it = bin_set && allowed.count(it->first) == 0 ? metrics->erase(it) : std::next(it);
  }
  *job.add_history() = report;
  job.set_position(position + 1);
  job.set_progress(static_cast<double>(live.schedule.IterationsBefore(position + 1)) /
                   std::max<int64_t>(1, live.schedule.total_iterations()));
  if (!report.checkpoint().empty()) {
    job.set_checkpoint(report.checkpoint());
    job.set_restart_position(position + 1);
  }
  job.set_phase("");
  Persist(job).IgnoreError();
  v1::JobEvent event;
  *event.mutable_phase_finished() = report;
  Publish(job, event);
  metrics_->PhaseFinished(id, report);
}

bool JobManager::OnWorkerMessage(const std::string& id, WorkerStream& stream, int64_t position,
                                 const v1::WorkerMessage& message, bool* detached) {
  absl::MutexLock lock(&mutex_);
  auto live_it = live_.find(id);
  if (live_it == live_.end() || live_it->second->stream != &stream) {  // cancelled
    *detached = true;
    return false;
  }
  Live& live = *live_it->second;
  v1::Job& job = jobs_[id];
  live.last_heard = Clock::now();
  if (message.has_heartbeat()) {
    if (message.heartbeat().work_done() != live.work_done) live.last_moved = live.last_heard;
    live.work_done = message.heartbeat().work_done();
  } else {
    live.last_moved = live.last_heard;  // progress, a result or a failure
  }
  switch (message.message_case()) {
    case v1::WorkerMessage::kProgress:
      OnProgress(id, live, job, position, message.progress());
      return false;
    case v1::WorkerMessage::kResult: {
      if (message.result().position() != position) return false;  // a stale result
      // Only the file this phase was ordered to write: the job's checkpoint is what a restart
      // (and `ftl eval`, and users) will read.
      const std::string& checkpoint = message.result().report().checkpoint();
      if (!checkpoint.empty() &&
          checkpoint != CheckpointFileName(job.spec().runtime().output_dir(), position)) {
        live.lost_reason =
            absl::StrCat("worker reported a checkpoint it was not ordered to write: '",
                         checkpoint.substr(0, 256), "'");
        live.permanent_failure = true;
        live.stream->Cancel();
        return false;
      }
      OnResult(id, live, job, position, message.result().report());
      return true;
    }
    case v1::WorkerMessage::kFailure:
      live.lost_reason = absl::StrCat("worker failed: ", message.failure());
      return false;
    case v1::WorkerMessage::kPermanentFailure:
      live.lost_reason = absl::StrCat("worker failed: ", message.permanent_failure());
      live.permanent_failure = true;
      return false;
    default:
      return false;  // heartbeat
  }
}

void JobManager::ServeWorker(WorkerStream& stream) {
  v1::WorkerMessage hello;
  if (!stream.Read(&hello) || !hello.has_hello()) return;
  const std::string id = hello.hello().job_id();
  const Attach attach = OnHello(stream, hello.hello(), stream.Credential());
  if (!attach.attached) {
    stream.Write(attach.reply);
    return;
  }
  if (!stream.Write(attach.reply)) return StreamLost(id, stream, "worker disconnected");
  for (;;) {
    int64_t position = 0;
    const v1::CoordinatorMessage order = NextOrder(id, stream, &position);
    if (order.has_stop()) {
      stream.Write(order);
      return;
    }
    if (!stream.Write(order)) return StreamLost(id, stream, "worker disconnected");
    for (bool phase_done = false; !phase_done;) {
      v1::WorkerMessage message;
      if (!stream.Read(&message)) return StreamLost(id, stream, "worker disconnected");
      bool detached = false;
      phase_done = OnWorkerMessage(id, stream, position, message, &detached);
      if (detached) return;
    }
  }
}

}  // namespace ftl
