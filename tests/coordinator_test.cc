// The coordinator's core without gRPC: the job store, spec admission, and the JobManager driving
// scripted workers through a fake launcher.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/coordinator/job_manager.h"
#include "services/coordinator/job_store.h"
#include "services/coordinator/spec_validation.h"
#include "services/coordinator/worker_reports.h"
#include "services/wire/spec_paths.h"
#include "tests/temp_dir.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

using ftl::testing::FreshDir;

// A data root with one identity folder, which is all admission needs.
std::string DataRoot() {
  static const std::string root = [] {
    const std::string r = FreshDir("data");
    fs::create_directories(r + "/faces/alice");
    return r;
  }();
  return root;
}

v1::JobSpec SmallSpec() {
  v1::JobSpec spec;
  spec.set_name("t");
  spec.mutable_data()->set_path(DataRoot() + "/faces");
  spec.mutable_training()->set_pretrain_iterations(10);
  spec.mutable_training()->set_rounds(1);
  spec.mutable_training()->set_stage_iterations(5);
  return spec;
}

// ---------------------------------------------------------------- store

TEST(SqliteJobStoreTest, PersistsAcrossReopenAndPagesInIdOrder) {
  const std::string path = FreshDir("store") + "/jobs.db";
  {
    auto store = OpenSqliteJobStore(path);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 5; ++i) {
      v1::Job job;
      job.set_id(absl::StrCat("job-", i));
      job.set_state(i % 2 ? v1::RUNNING : v1::QUEUED);
      ASSERT_TRUE((*store)->Put(job).ok());
    }
    v1::Job update;
    update.set_id("job-0");
    update.set_state(v1::SUCCEEDED);
    ASSERT_TRUE((*store)->Put(update).ok());
  }
  auto store = OpenSqliteJobStore(path);
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->Get("job-0")->state(), v1::SUCCEEDED);
  EXPECT_EQ((*store)->Get("nope").status().code(), absl::StatusCode::kNotFound);
  auto first = (*store)->List(v1::JOB_STATE_UNSPECIFIED, "", 2);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[1].id(), "job-1");
  auto rest = (*store)->List(v1::JOB_STATE_UNSPECIFIED, "job-1", 10);
  EXPECT_EQ(rest->size(), 3u);
  EXPECT_EQ((*store)->List(v1::RUNNING, "", 10)->size(), 2u);
}

TEST(SqliteJobStoreTest, UnreadableRecordIsQuarantinedNotFatal) {
  const std::string path = FreshDir("store_damage") + "/jobs.db";
  {
    auto store = OpenSqliteJobStore(path);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 3; ++i) {
      v1::Job job;
      job.set_id(absl::StrCat("job-", i));
      ASSERT_TRUE((*store)->Put(job).ok());
    }
  }
  // Damage job-1's record behind the store's back.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE jobs SET job = x'ffffffff' WHERE id = 'job-1'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenSqliteJobStore(path);
  ASSERT_TRUE(store.ok());
  const absl::StatusOr<v1::Job> damaged = (*store)->Get("job-1");
  EXPECT_EQ(damaged.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(damaged.status().message().find("job-1"), std::string::npos) << damaged.status();
  absl::StatusOr<std::vector<v1::Job>> listed = (*store)->List(v1::JOB_STATE_UNSPECIFIED, "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].id(), "job-2");
  // Kept for inspection, out of the way of the next start.
  EXPECT_EQ((*store)->Get("job-1").status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT id FROM quarantined_jobs", -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "job-1");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

// A row whose id column and record disagree: callers page by the ids they get back, so such a
// row made JobManager::Start page for ever. It is set aside like a corrupt one.
TEST(SqliteJobStoreTest, ARowHoldingAnotherJobsRecordIsQuarantined) {
  const std::string path = FreshDir("store_row_mismatch") + "/jobs.db";
  {
    auto store = OpenSqliteJobStore(path);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 3; ++i) {
      v1::Job job;
      job.set_id(absl::StrCat("job-", i));
      ASSERT_TRUE((*store)->Put(job).ok());
    }
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // job-2's row now holds job-0's record (an id that sorts before it).
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE jobs SET job = (SELECT job FROM jobs WHERE id = 'job-0') "
                         "WHERE id = 'job-2'",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenSqliteJobStore(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Get("job-2").status().code(), absl::StatusCode::kDataLoss);
  // Paging as JobManager::Start does, by the last id returned, ends.
  std::vector<std::string> seen;
  std::string after;
  for (int page = 0; page < 10; ++page) {
    absl::StatusOr<std::vector<v1::Job>> jobs = (*store)->List(v1::JOB_STATE_UNSPECIFIED, after, 1);
    ASSERT_TRUE(jobs.ok()) << jobs.status();
    if (jobs->empty()) break;
    after = jobs->back().id();
    seen.push_back(after);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"job-0", "job-1"}));
  EXPECT_EQ((*store)->Get("job-2").status().code(), absl::StatusCode::kNotFound);
}

// Writes three jobs in a child process that ends without closing the store, as a crash does.
void CrashWithStoreOpen(const std::string& path) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto store = OpenSqliteJobStore(path);
    for (int i = 0; store.ok() && i < 3; ++i) {
      v1::Job job;
      job.set_id(absl::StrCat("job-", i));
      if (!(*store)->Put(job).ok()) _exit(2);
    }
    _exit(store.ok() ? 0 : 3);  // no destructor: the store stays marked open, its log in place
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(SqliteJobStoreTest, ACrashedStoreWithoutItsLogIsRefusedWithTheRemedy) {
  const std::string dir = FreshDir("store_lost_wal");
  const std::string path = dir + "/jobs.db";
  CrashWithStoreOpen(path);
  ASSERT_TRUE(std::filesystem::exists(path + "-wal"));
  // As an operator copying only jobs.db would.
  std::filesystem::copy_file(path, dir + "/copy.db");
  {
    auto copy = OpenSqliteJobStore(dir + "/copy.db");
    ASSERT_FALSE(copy.ok());
    EXPECT_EQ(copy.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(copy.status().message().find(dir + "/copy.db-wal"), std::string::npos)
        << copy.status();
    EXPECT_NE(copy.status().message().find("--accept_store_without_wal"), std::string::npos);
  }
  // Refused again: the refusal did not mark the copy closed.
  EXPECT_FALSE(OpenSqliteJobStore(dir + "/copy.db").ok());
  {
    JobStoreOptions accept;
    accept.accept_missing_wal = true;
    auto copy = OpenSqliteJobStore(dir + "/copy.db", accept);
    ASSERT_TRUE(copy.ok()) << copy.status();
  }
  // Closed cleanly once: an ordinary store from then on.
  EXPECT_TRUE(OpenSqliteJobStore(dir + "/copy.db").ok());
  // The original, with its log, opens with every job.
  auto store = OpenSqliteJobStore(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->List(v1::JOB_STATE_UNSPECIFIED, "", 10)->size(), 3u);
}

TEST(SqliteJobStoreTest, AClosedStoreLeavesNoLogAndNeedsNone) {
  const std::string path = FreshDir("store_clean_close") + "/jobs.db";
  {
    auto store = OpenSqliteJobStore(path);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 50; ++i) {
      v1::Job job;
      job.set_id(absl::StrCat("job-", i));
      ASSERT_TRUE((*store)->Put(job).ok());
    }
    EXPECT_TRUE(std::filesystem::exists(path + "-wal"));
  }
  EXPECT_FALSE(std::filesystem::exists(path + "-wal"));
  auto store = OpenSqliteJobStore(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->List(v1::JOB_STATE_UNSPECIFIED, "", 100)->size(), 50u);
}

TEST(SqliteJobStoreTest, AStoreThatCannotBeOpenedIsNamed) {
  // A state folder that is a file (as root, a read-only folder would still be writable).
  const std::string dir = FreshDir("store_blocked");
  std::ofstream(dir + "/state") << "not a folder";
  auto store = OpenSqliteJobStore(dir + "/state/jobs.db");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find(dir + "/state/jobs.db"), std::string::npos)
      << store.status();
}

// ---------------------------------------------------------------- admission

void ExpectRefused(const v1::JobSpec& spec, const std::string& field) {
  absl::StatusOr<AdmittedSpec> config = ValidateJobSpec(spec, {DataRoot()});
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find(field), std::string::npos) << config.status();
}

TEST(SpecValidationTest, AcceptsPathsUnderARoot) {
  EXPECT_TRUE(ValidateJobSpec(SmallSpec(), {DataRoot()}).ok());
}

TEST(SpecValidationTest, RefusesPathsOutsideTheRootsDotDotAndSymlinksOut) {
  v1::JobSpec outside = SmallSpec();
  outside.mutable_data()->set_path("/etc");
  ExpectRefused(outside, "data.path");
  v1::JobSpec dotdot = SmallSpec();
  dotdot.mutable_data()->set_path(DataRoot() + "/faces/../faces");
  ExpectRefused(dotdot, "data.path");
  const std::string link = DataRoot() + "/escape";
  fs::remove(link);
  fs::create_directory_symlink("/etc", link);
  v1::JobSpec symlinked = SmallSpec();
  symlinked.mutable_data()->set_path(link);
  ExpectRefused(symlinked, "data.path");
  v1::JobSpec output = SmallSpec();
  output.mutable_runtime()->set_output_dir("/tmp");
  ExpectRefused(output, "runtime.output_dir");
}

TEST(SpecValidationTest, RelativeInputPathsAreRefusedWithWhatToDo) {
  v1::JobSpec relative = SmallSpec();
  relative.mutable_data()->set_path("faces");
  ExpectRefused(relative, "data.path");
  ExpectRefused(relative, "ftl submit");
  v1::JobSpec init = SmallSpec();
  init.mutable_training()->set_init_checkpoint("/etc/passwd");  // checked like the data
  ExpectRefused(init, "training.init_checkpoint");
  // A relative output_dir is a folder inside the job's folder; it may not climb out of it.
  v1::JobSpec output = SmallSpec();
  output.mutable_runtime()->set_output_dir("runs/demo");
  EXPECT_TRUE(ValidateJobSpec(output, {DataRoot()}).ok());
  output.mutable_runtime()->set_output_dir("../demo");
  ExpectRefused(output, "runtime.output_dir");
}

// Issue 16: one submission cannot store megabytes or smuggle a NUL into a path.
TEST(SpecValidationTest, BoundsStringsTheNameAndNulBytes) {
  v1::JobSpec long_name = SmallSpec();
  long_name.set_name(std::string(kMaxJobNameBytes + 1, 'x'));
  ExpectRefused(long_name, "name");
  v1::JobSpec long_string = SmallSpec();
  long_string.mutable_data()->set_yaw_csv(std::string(kMaxSpecStringBytes + 1, 'y'));
  ExpectRefused(long_string, "data.yaw_csv");
  v1::JobSpec nul = SmallSpec();
  nul.mutable_data()->set_path(DataRoot() + std::string("/faces\0/../../etc", 17));
  ExpectRefused(nul, "NUL");
  v1::JobSpec nan = SmallSpec();
  nan.mutable_training()->set_pretrain_lr(std::nan(""));
  ExpectRefused(nan, "training.pretrain_lr");
}

// The job keeps the real paths it was admitted with: a symlink in the root repointed afterwards
// cannot move it, and a path that no longer resolves to itself is caught at launch.
TEST(SpecValidationTest, KeepsRealPathsAndLaunchCheckCatchesAChangedLink) {
  const std::string root = FreshDir("launch_root");
  fs::create_directories(root + "/real/bob");
  fs::create_directory_symlink(root + "/real", root + "/link");
  v1::JobSpec spec = SmallSpec();
  spec.mutable_data()->set_path(root + "/link");
  const absl::StatusOr<AdmittedSpec> admitted = ValidateJobSpec(spec, {root});
  ASSERT_TRUE(admitted.ok()) << admitted.status();
  EXPECT_EQ(admitted->spec.data().path(), fs::canonical(root + "/real").string());
  v1::JobSpec stored = admitted->spec;
  stored.mutable_runtime()->set_output_dir(root + "/out");
  fs::create_directories(root + "/out");
  EXPECT_TRUE(CheckPathsAtLaunch(stored, {root}, FreshDir("launch_state")).ok());
  // The admitted folder itself becomes a link elsewhere in the root: not what was admitted.
  fs::rename(root + "/real", root + "/moved");
  fs::create_directory_symlink(root + "/moved", root + "/real");
  const absl::Status moved = CheckPathsAtLaunch(stored, {root}, FreshDir("launch_state"));
  EXPECT_EQ(moved.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(moved.message().find("data.path"), std::string::npos) << moved;
  EXPECT_NE(moved.message().find("changed since admission"), std::string::npos) << moved;
  // ... or a link out of the root.
  fs::remove(root + "/real");
  fs::create_directory_symlink("/etc", root + "/real");
  const absl::Status at_launch = CheckPathsAtLaunch(stored, {root}, FreshDir("launch_state"));
  EXPECT_EQ(at_launch.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(at_launch.message().find("outside the allowed data roots"), std::string::npos)
      << at_launch;
}

TEST(SpecPathsTest, ResolvesRelativeInputPathsAgainstTheSubmittersFolder) {
  v1::JobSpec spec;
  spec.mutable_data()->set_path("../shared/data/yaleb-cropped");
  spec.mutable_data()->set_yaw_csv("/abs/yaw.csv");
  spec.mutable_evaluation()->set_pairs_path("pairs.txt");
  spec.mutable_runtime()->set_output_dir("ftl-output/demo");
  ResolveInputPaths("/home/me/ftl", &spec);
  EXPECT_EQ(spec.data().path(), "/home/me/shared/data/yaleb-cropped");
  EXPECT_EQ(spec.data().yaw_csv(), "/abs/yaw.csv");
  EXPECT_EQ(spec.evaluation().pairs_path(), "/home/me/ftl/pairs.txt");
  EXPECT_EQ(spec.runtime().output_dir(), "ftl-output/demo");  // not an input
  EXPECT_FALSE(spec.has_training());                          // absent messages stay absent
}

TEST(SpecValidationTest, RefusesMissingFieldsAndBadNumbers) {
  v1::JobSpec missing = SmallSpec();
  missing.mutable_data()->clear_path();
  ExpectRefused(missing, "data.path");
  v1::JobSpec negative = SmallSpec();
  negative.mutable_training()->set_stage_iterations(-1);
  ExpectRefused(negative, "training.stage_iterations");
}

// ---------------------------------------------------------------- manager

class FakeLauncher : public Launcher {
 public:
  absl::StatusOr<std::string> Launch(const LaunchRequest& r) override {
    std::lock_guard<std::mutex> lock(mutex);
    launches.push_back(r.job_id);
    credential_files.push_back(r.credential_file);
    return absl::StrCat("h", launches.size());
  }
  void Stop(const std::string&, const std::string& handle) override {
    std::lock_guard<std::mutex> lock(mutex);
    stopped.push_back(handle);
  }
  bool Running(const std::string&) override { return true; }
  int num_launches() {
    std::lock_guard<std::mutex> lock(mutex);
    return static_cast<int>(launches.size());
  }
  std::string credential_file(int launch) {
    std::lock_guard<std::mutex> lock(mutex);
    return credential_files.at(launch);
  }
  // Waits (up to 5 s) for `n` stops: the manager stops a lost launch off its scheduling thread.
  std::vector<std::string> WaitForStops(size_t n) {
    for (int i = 0; i < 250; ++i) {
      {
        std::lock_guard<std::mutex> lock(mutex);
        if (stopped.size() >= n) return stopped;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::lock_guard<std::mutex> lock(mutex);
    return stopped;
  }
  std::mutex mutex;
  std::vector<std::string> launches, stopped, credential_files;
};

// A scripted rank 0: answers each RunPhase with a result, and disconnects when asked to run
// phase `die_at` (or blocks there until cancelled, when `hang` is set).
class ScriptedWorker : public WorkerStream {
 public:
  ScriptedWorker(std::string job_id, int64_t die_at = -1, bool hang = false)
      : die_at_(die_at), hang_(hang) {
    v1::WorkerMessage hello;
    hello.mutable_hello()->set_job_id(std::move(job_id));
    hello.mutable_hello()->set_world_size(2);
    inbox_.push_back(hello);
  }
  bool Read(v1::WorkerMessage* message) override {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!ready_.wait_for(lock, std::chrono::milliseconds(20),
                            [this] { return cancelled_ || dead_ || !inbox_.empty(); })) {
      if (!hung_ || beats_left_ < 0) continue;
      // Hung at die_at but beating, as rank 0's heartbeat thread does.
      if (beats_left_ == 0) {  // the slow phase is done after all
        hung_ = false;
        inbox_.push_back(Result(die_at_, ""));
        break;
      }
      --beats_left_;
      if (working_) ++work_done_;
      message->mutable_heartbeat()->set_work_done(work_done_);
      ++beats_sent_;
      return true;
    }
    if (cancelled_ || (dead_ && inbox_.empty())) return false;
    *message = inbox_.front();
    inbox_.pop_front();
    return true;
  }
  bool Write(const v1::CoordinatorMessage& message) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) return false;
    received_.push_back(message);
    if (message.has_run_phase()) {
      const int64_t position = message.run_phase().position();
      if (position == die_at_) {
        if (!permanent_failure_.empty()) {
          v1::WorkerMessage failure;
          failure.set_permanent_failure(permanent_failure_);
          inbox_.push_back(failure);
        }
        if (!hang_) dead_ = true;
        hung_ = hang_;
      } else {
        if (loss_terms_ > 0) {
          v1::WorkerMessage progress;
          progress.mutable_progress()->set_phase("made-up-phase");
          for (int i = 0; i < loss_terms_; ++i)
            (*progress.mutable_progress()->mutable_losses())[absl::StrCat("term", i)] = i;
          inbox_.push_back(progress);
        }
        inbox_.push_back(Result(position, message.run_phase().checkpoint_path()));
      }
    }
    ready_.notify_all();
    return true;
  }
  // While hung at `die_at`, send a heartbeat every 20 ms (at most `beats`, then finish the phase)
  // whose work count moves when `working` (a slow phase) and stays put otherwise (stuck).
  void BeatWhileHung(bool working, int beats) {
    std::lock_guard<std::mutex> lock(mutex_);
    working_ = working;
    beats_left_ = beats;
  }
  int beats_sent() {
    std::lock_guard<std::mutex> lock(mutex_);
    return beats_sent_;
  }
  // At `die_at`, say first that the failure is permanent (as ftl_worker does for exit code 2).
  void FailPermanently(std::string message) {
    std::lock_guard<std::mutex> lock(mutex_);
    permanent_failure_ = std::move(message);
  }
  void Cancel() override {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    ready_.notify_all();
  }
  std::vector<v1::CoordinatorMessage> received() {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }
  std::string Credential() const override { return credential_; }
  std::set<int64_t> checkpoints_ = {1, 6};  // the schedule's checkpoint phases for SmallSpec
  std::string credential_;                  // what it presents as its bearer credential
  std::string forged_checkpoint_;           // reported instead of the ordered checkpoint path
  int loss_terms_ = 0;                      // loss terms in a progress report before each result

 private:
  v1::WorkerMessage Result(int64_t position, const std::string& ordered_checkpoint) {
    v1::WorkerMessage result;
    result.mutable_result()->set_position(position);
    result.mutable_result()->mutable_report()->set_phase("p");
    if (checkpoints_.count(position))
      result.mutable_result()->mutable_report()->set_checkpoint(
          forged_checkpoint_.empty() ? ordered_checkpoint : forged_checkpoint_);
    return result;
  }

  int64_t die_at_;
  bool hang_;
  bool hung_ = false;    // waiting at die_at_ with hang_
  int beats_left_ = -1;  // heartbeats still to send while hung; -1: none at all
  bool working_ = false;
  int64_t work_done_ = 0;
  int beats_sent_ = 0;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<v1::WorkerMessage> inbox_;
  std::vector<v1::CoordinatorMessage> received_;
  bool cancelled_ = false, dead_ = false;
  std::string permanent_failure_;
};

// Remembers the last workers-attached figure per job (what ftl_workers_attached would show).
class RecordingMetrics : public NullMetricsSink {
 public:
  void Progress(const std::string&, const v1::PhaseProgress& progress) override {
    std::lock_guard<std::mutex> lock(mutex_);
    phases_.insert(progress.phase());
    for (const auto& [term, value] : progress.losses()) terms_.insert(term);
  }
  std::set<std::string> terms() {
    std::lock_guard<std::mutex> lock(mutex_);
    return terms_;
  }
  std::set<std::string> phases() {
    std::lock_guard<std::mutex> lock(mutex_);
    return phases_;
  }
  void SetWorkersAttached(const std::string& job_id, int workers) override {
    std::lock_guard<std::mutex> lock(mutex_);
    attached_[job_id] = workers;
  }
  int attached(const std::string& job_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return attached_.count(job_id) ? attached_[job_id] : -1;
  }
  void JobFinished(const std::string& job_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_.insert(job_id);
  }
  bool finished(const std::string& job_id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return finished_.count(job_id) > 0;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, int> attached_;
  std::set<std::string> finished_;
  std::set<std::string> terms_, phases_;
};

class JobManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    state_ = FreshDir("state");
    Open();
  }
  void Open(bool check_worker_credentials = false, std::string external_worker_token = "") {
    store_ = *OpenSqliteJobStore(state_ + "/jobs.db");
    JobManagerOptions options;
    options.state_dir = state_;
    options.data_roots = {DataRoot()};
    options.max_concurrent_jobs = 1;
    options.check_worker_credentials = check_worker_credentials;
    options.external_worker_token = std::move(external_worker_token);
    options.stall_timeout_seconds = stall_timeout_seconds_;
    manager_ = std::make_unique<JobManager>(options, store_.get(), &launcher_, &metrics_);
    ASSERT_TRUE(manager_->Start().ok());
  }
  void WaitForLaunches(int n) {
    for (int i = 0; i < 200 && launcher_.num_launches() < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_GE(launcher_.num_launches(), n);
  }
  v1::Job Get(const std::string& id) { return *manager_->Get(id); }

  double stall_timeout_seconds_ = 1200;
  std::string state_;
  FakeLauncher launcher_;
  RecordingMetrics metrics_;
  std::unique_ptr<JobStore> store_;
  std::unique_ptr<JobManager> manager_;
};

TEST_F(JobManagerTest, RunsEveryPhaseInOrderAndSucceeds) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  EXPECT_EQ(job.state(), v1::QUEUED);
  EXPECT_EQ(job.num_phases(), 7);
  auto watch = *manager_->Watch(job.id());
  WaitForLaunches(1);
  ScriptedWorker worker(job.id());
  manager_->ServeWorker(worker);
  const v1::Job done = Get(job.id());
  EXPECT_EQ(done.state(), v1::SUCCEEDED);
  EXPECT_TRUE(metrics_.finished(job.id()));  // its series now age out (PrometheusMetrics)
  EXPECT_EQ(metrics_.attached(job.id()), 0);
  EXPECT_EQ(done.history_size(), 7);
  EXPECT_EQ(done.restart_position(), 7);
  EXPECT_NE(done.checkpoint().find("ckpt-000006.ftlckpt"), std::string::npos);
  std::vector<int64_t> ordered;
  for (const auto& m : worker.received()) {
    if (m.has_run_phase()) ordered.push_back(m.run_phase().position());
  }
  EXPECT_EQ(ordered, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(worker.received().front().has_welcome());
  EXPECT_TRUE(worker.received().back().has_stop());
  std::vector<std::string> started;
  while (auto event = watch->Next(100)) {
    if (event->has_phase_started()) started.push_back(event->phase_started());
  }
  EXPECT_EQ(started, (std::vector<std::string>{"pretrain", "checkpoint", "update_stats", "stage1",
                                               "stage2", "evaluate", "checkpoint"}));
  EXPECT_TRUE(watch->closed());
  // Persisted: a new store handle sees the final state.
  EXPECT_EQ((*store_->Get(job.id())).state(), v1::SUCCEEDED);
}

TEST_F(JobManagerTest, LostWorkerRestartsFromTheLastCheckpoint) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  ScriptedWorker dies(job.id(), /*die_at=*/4);
  manager_->ServeWorker(dies);
  v1::Job after = Get(job.id());
  EXPECT_EQ(after.state(), v1::RUNNING);
  EXPECT_EQ(after.restarts(), 1);
  EXPECT_EQ(after.position(), 2);  // just after the checkpoint at phase 1
  EXPECT_NE(after.message().find("worker disconnected"), std::string::npos);
  WaitForLaunches(2);
  ScriptedWorker finishes(job.id());
  manager_->ServeWorker(finishes);
  EXPECT_TRUE(finishes.received().front().welcome().resume_checkpoint().find("ckpt-000001") !=
              std::string::npos);
  EXPECT_EQ(finishes.received()[1].run_phase().position(), 2);
  EXPECT_EQ(Get(job.id()).state(), v1::SUCCEEDED);
}

TEST_F(JobManagerTest, PermanentFailureIsNotRetried) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  ScriptedWorker fails(job.id(), /*die_at=*/2);
  fails.FailPermanently("runtime.device: cuda, but this build has no CUDA");
  manager_->ServeWorker(fails);
  const v1::Job after = Get(job.id());
  EXPECT_EQ(after.state(), v1::FAILED);
  EXPECT_EQ(after.restarts(), 0);
  EXPECT_NE(after.message().find("not retried"), std::string::npos) << after.message();
  EXPECT_NE(after.message().find("no CUDA"), std::string::npos) << after.message();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a scheduler pass
  EXPECT_EQ(launcher_.num_launches(), 1);
}

TEST_F(JobManagerTest, GivesUpAfterMaxRestarts) {
  v1::JobSpec spec = SmallSpec();
  spec.mutable_runtime()->set_max_restarts(0);
  const v1::Job job = *manager_->Submit(spec);
  WaitForLaunches(1);
  ScriptedWorker dies(job.id(), /*die_at=*/3);
  manager_->ServeWorker(dies);
  const v1::Job failed = Get(job.id());
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_NE(failed.message().find("worker disconnected"), std::string::npos);
}

TEST_F(JobManagerTest, CancelStopsTheWorkersAndTheStream) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  ScriptedWorker hangs(job.id(), /*die_at=*/3, /*hang=*/true);
  std::thread serve([&] { manager_->ServeWorker(hangs); });
  for (int i = 0; i < 200 && Get(job.id()).position() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(metrics_.attached(job.id()), 2);
  EXPECT_FALSE(metrics_.finished(job.id()));
  const absl::StatusOr<v1::Job> cancelled = manager_->Cancel(job.id());
  EXPECT_TRUE(metrics_.finished(job.id()));
  EXPECT_EQ(metrics_.attached(job.id()), 0);  // a cancelled job does not look stalled
  serve.join();                               // the stream was cancelled, so ServeWorker returned
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(Get(job.id()).state(), v1::CANCELLED);
  EXPECT_EQ(launcher_.WaitForStops(1), (std::vector<std::string>{"h1"}));
  EXPECT_EQ(manager_->Cancel(job.id()).status().code(), absl::StatusCode::kFailedPrecondition);
}

// The manager with a --stall_timeout of 1 s.
class JobManagerStallTest : public JobManagerTest {
 protected:
  void SetUp() override {
    stall_timeout_seconds_ = 1.0;
    JobManagerTest::SetUp();
  }
};

// A worker whose heartbeats keep coming but whose work count stays put (a deadlock, a device call
// that never returns) is stuck: the launch is stopped and the job restarts from its checkpoint.
TEST_F(JobManagerStallTest, StuckWorkersAreRestartedFromTheLastCheckpoint) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  ScriptedWorker stuck(job.id(), /*die_at=*/4, /*hang=*/true);
  stuck.BeatWhileHung(/*working=*/false, /*beats=*/1000);  // 20 s of beats at most
  const auto start = std::chrono::steady_clock::now();
  manager_->ServeWorker(stuck);  // returns once the coordinator cancels the stream
  const double detected =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(detected, 15.0);
  EXPECT_GT(stuck.beats_sent(), 10);  // it was beating all along: not a heartbeat timeout
  const v1::Job after = Get(job.id());
  EXPECT_EQ(after.state(), v1::RUNNING);
  EXPECT_EQ(after.restarts(), 1);
  EXPECT_EQ(after.position(), 2);  // just after the checkpoint at phase 1
  EXPECT_NE(after.message().find("alive but stuck"), std::string::npos) << after.message();
  EXPECT_NE(after.message().find("phase 4"), std::string::npos) << after.message();
  WaitForLaunches(2);
  EXPECT_EQ(launcher_.WaitForStops(1), (std::vector<std::string>{"h1"}));
  ScriptedWorker finishes(job.id());
  manager_->ServeWorker(finishes);
  EXPECT_EQ(Get(job.id()).state(), v1::SUCCEEDED);
}

// A slow phase whose work count moves is not stuck, however long it takes.
TEST_F(JobManagerStallTest, SlowWorkersWhoseCountMovesAreNotStuck) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  ScriptedWorker slow(job.id(), /*die_at=*/4, /*hang=*/true);
  slow.BeatWhileHung(/*working=*/true, /*beats=*/200);  // ~4 s, four stall timeouts
  manager_->ServeWorker(slow);
  EXPECT_EQ(slow.beats_sent(), 200);
  const v1::Job done = Get(job.id());
  EXPECT_EQ(done.state(), v1::SUCCEEDED) << done.message();
  EXPECT_EQ(done.restarts(), 0);
  EXPECT_EQ(launcher_.num_launches(), 1);
}

TEST_F(JobManagerTest, RestartedManagerRelaunchesRunningJobsFromTheirCheckpoint) {
  v1::JobSpec spec = SmallSpec();
  const v1::Job job = *manager_->Submit(spec);
  const v1::Job queued = *manager_->Submit(spec);  // waits: one job at a time
  WaitForLaunches(1);
  ScriptedWorker hangs(job.id(), /*die_at=*/4, /*hang=*/true);
  std::thread serve([&] { manager_->ServeWorker(hangs); });
  for (int i = 0; i < 200 && Get(job.id()).position() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  manager_->Stop();  // the coordinator goes away mid-job
  serve.join();
  EXPECT_EQ(Get(job.id()).restarts(), 0);  // a shutdown is not the workers' failure
  manager_.reset();
  Open();
  const v1::Job recovered = Get(job.id());
  EXPECT_EQ(recovered.state(), v1::RUNNING);
  EXPECT_EQ(recovered.position(), 2);
  EXPECT_EQ(Get(queued.id()).state(), v1::QUEUED);
  WaitForLaunches(2);
  EXPECT_EQ(launcher_.launches.back(), job.id());
  ScriptedWorker finishes(job.id());
  manager_->ServeWorker(finishes);
  EXPECT_EQ(Get(job.id()).state(), v1::SUCCEEDED);
  WaitForLaunches(3);  // then the queued job starts
  EXPECT_EQ(launcher_.launches.back(), queued.id());
}

TEST_F(JobManagerTest, InvalidSpecIsRefusedAndNothingStored) {
  v1::JobSpec bad = SmallSpec();
  bad.mutable_data()->set_path("/etc");
  EXPECT_EQ(manager_->Submit(bad).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_->List(v1::ListJobsRequest())->jobs_size(), 0);
  EXPECT_TRUE(store_->List(v1::JOB_STATE_UNSPECIFIED, "", 10)->empty());
}

TEST_F(JobManagerTest, RelativeOutputDirIsInsideTheJobsFolder) {
  v1::JobSpec spec = SmallSpec();
  spec.mutable_runtime()->set_output_dir("ftl-output/demo");
  const v1::Job job = *manager_->Submit(spec);
  const std::string expected =
      (fs::path(state_) / "jobs" / job.id() / "ftl-output/demo").lexically_normal().string();
  EXPECT_EQ(job.spec().runtime().output_dir(), expected);
  EXPECT_TRUE(fs::is_directory(expected));
}

TEST_F(JobManagerTest, RetriedSubmissionReturnsTheSameJob) {
  const v1::Job first = *manager_->Submit(SmallSpec(), "req-42");
  const v1::Job again = *manager_->Submit(SmallSpec(), "req-42");
  EXPECT_EQ(again.id(), first.id());
  EXPECT_NE(manager_->Submit(SmallSpec(), "req-43")->id(), first.id());
  EXPECT_NE(manager_->Submit(SmallSpec())->id(), manager_->Submit(SmallSpec())->id());
  // Also after a restart: the key is stored with the job.
  manager_.reset();
  Open();
  EXPECT_EQ(manager_->Submit(SmallSpec(), "req-42")->id(), first.id());
  // The same key with another spec is a mistake, not a retry.
  v1::JobSpec other = SmallSpec();
  other.set_name("another-job");
  const absl::StatusOr<v1::Job> reused = manager_->Submit(other, "req-42");
  ASSERT_FALSE(reused.ok());
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(reused.status().message().find(first.id()), std::string::npos) << reused.status();
}

TEST_F(JobManagerTest, EmptyStoreBesideJobFoldersRefusesToStart) {
  ASSERT_TRUE(manager_->Submit(SmallSpec()).ok());
  manager_.reset();
  store_.reset();
  fs::resize_file(state_ + "/jobs.db", 0);  // a zero-byte store, job folders still there
  fs::remove(state_ + "/jobs.db-wal");
  fs::remove(state_ + "/jobs.db-shm");
  store_ = *OpenSqliteJobStore(state_ + "/jobs.db");
  JobManagerOptions options;
  options.state_dir = state_;
  options.data_roots = {DataRoot()};
  JobManager manager(options, store_.get(), &launcher_, &metrics_);
  const absl::Status started = manager.Start();
  EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(started.message().find("1 job folder"), std::string::npos) << started;
  EXPECT_NE(started.message().find("Restore"), std::string::npos) << started;
}

// A store restored from an older copy lacks the newer jobs, whose folders remain: the start is
// refused naming them, or they are set aside on request. An empty folder (a submission cut short)
// is left alone.
TEST_F(JobManagerTest, JobFoldersWithoutARecordStopTheStartOrAreSetAside) {
  ASSERT_TRUE(manager_->Submit(SmallSpec()).ok());
  manager_.reset();
  const std::string orphan = "job-0000000000001-0001";
  fs::create_directories(state_ + "/jobs/" + orphan);
  std::ofstream(state_ + "/jobs/" + orphan + "/worker.log") << "it ran";
  fs::create_directories(state_ + "/jobs/job-0000000000002-0002");  // empty
  JobManagerOptions options;
  options.state_dir = state_;
  options.data_roots = {DataRoot()};
  {
    JobManager refusing(options, store_.get(), &launcher_, &metrics_);
    const absl::Status started = refusing.Start();
    EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(started.message().find("1 job folder(s) with no record"), std::string::npos)
        << started;
    EXPECT_NE(started.message().find(orphan), std::string::npos) << started;
    EXPECT_NE(started.message().find("--set_aside_job_folders_without_record"), std::string::npos);
  }
  options.set_aside_job_folders_without_record = true;
  JobManager setting_aside(options, store_.get(), &launcher_, &metrics_);
  ASSERT_TRUE(setting_aside.Start().ok());
  EXPECT_TRUE(fs::exists(state_ + "/jobs-without-record/" + orphan + "/worker.log"));
  EXPECT_FALSE(fs::exists(state_ + "/jobs/" + orphan));
  EXPECT_TRUE(fs::exists(state_ + "/jobs/job-0000000000002-0002"));
}

// ftl logs reads the worker log in bounded pieces, from an offset or from the end.
TEST_F(JobManagerTest, ReadLogReturnsBoundedPiecesOfTheWorkerLog) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  v1::ReadJobLogRequest request;
  request.set_id(job.id());
  absl::StatusOr<v1::JobLogChunk> none = manager_->ReadLog(request);
  ASSERT_TRUE(none.ok()) << none.status();  // not written yet: empty, not an error
  EXPECT_EQ(none->size(), 0);
  EXPECT_FALSE(none->job_ended());
  const std::string log = job.spec().runtime().output_dir() + "/worker.log";
  std::ofstream(log) << "line1\nline2\n";
  request.set_max_bytes(5);
  absl::StatusOr<v1::JobLogChunk> first = manager_->ReadLog(request);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->data(), "line1");
  EXPECT_EQ(first->next_offset(), 5);
  EXPECT_EQ(first->size(), 12);
  request.set_offset(-6);
  request.set_max_bytes(0);  // the default: up to 1 MiB
  EXPECT_EQ(manager_->ReadLog(request)->data(), "line2\n");
  EXPECT_EQ(manager_->ReadLog(request)->offset(), 6);
  request.set_offset(100);
  EXPECT_EQ(manager_->ReadLog(request)->data(), "");
  EXPECT_EQ(manager_->ReadLog(request)->next_offset(), 12);
  std::ofstream(log, std::ios::trunc) << std::string(3 << 20, 'x');
  request.set_offset(0);
  EXPECT_EQ(manager_->ReadLog(request)->data().size(), size_t{1} << 20);
  fs::remove(log);
  fs::create_symlink(state_ + "/jobs.db", log);  // never followed
  EXPECT_FALSE(manager_->ReadLog(request).ok());
  request.set_id("job-0000000000000-0000");
  EXPECT_EQ(manager_->ReadLog(request).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobManagerTest, ListPagesAndFiltersByState) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(manager_->Submit(SmallSpec()).ok());
  v1::ListJobsRequest request;
  request.set_page_size(2);
  int seen = 0;
  for (;;) {
    const v1::ListJobsResponse page = *manager_->List(request);
    seen += page.jobs_size();
    if (page.next_page_token().empty()) break;
    request.set_page_token(page.next_page_token());
  }
  EXPECT_EQ(seen, 5);
  v1::ListJobsRequest queued;
  queued.set_state(v1::QUEUED);
  WaitForLaunches(1);
  EXPECT_EQ(manager_->List(queued)->jobs_size(), 4);
}

// Issue 16: list replies are summaries, so one job's large spec cannot break listing.
TEST_F(JobManagerTest, ListReturnsSummariesGetReturnsTheSpec) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  const v1::ListJobsResponse page = *manager_->List(v1::ListJobsRequest());
  ASSERT_EQ(page.jobs_size(), 1);
  EXPECT_EQ(page.jobs(0).spec().name(), "t");
  EXPECT_FALSE(page.jobs(0).spec().has_data());
  EXPECT_TRUE(Get(job.id()).spec().has_data());
}

// Issue 16: the users' token is not a worker credential; each launch has its own.
TEST_F(JobManagerTest, WorkersNeedTheirLaunchsCredential) {
  manager_.reset();
  Open(/*check_worker_credentials=*/true, /*external_worker_token=*/"k8s-workers-secret");
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  const std::string file = launcher_.credential_file(0);
  ASSERT_FALSE(file.empty());
  EXPECT_EQ(fs::status(file).permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  std::string credential;
  std::ifstream(file) >> credential;
  EXPECT_EQ(credential.size(), 64u);

  ScriptedWorker impostor(job.id());
  impostor.credential_ = "the-users-token";
  manager_->ServeWorker(impostor);
  ASSERT_FALSE(impostor.received().empty());
  EXPECT_TRUE(impostor.received().front().has_stop());
  EXPECT_NE(impostor.received().front().stop().find("credential"), std::string::npos);
  EXPECT_EQ(Get(job.id()).history_size(), 0);
  EXPECT_EQ(Get(job.id()).state(), v1::RUNNING);

  ScriptedWorker launched(job.id());
  launched.credential_ = credential;
  manager_->ServeWorker(launched);
  EXPECT_EQ(Get(job.id()).state(), v1::SUCCEEDED);

  // Without a credential, Attach tells nothing: the same refusal for a finished job, a job that
  // does not exist and a running one.
  for (const std::string& id : {job.id(), std::string("job-0000000000000-0000")}) {
    ScriptedWorker prober(id);
    prober.credential_ = "guess";
    manager_->ServeWorker(prober);
    ASSERT_FALSE(prober.received().empty());
    std::string expected = impostor.received().front().stop();
    expected.replace(4, job.id().size(), id);
    EXPECT_EQ(prober.received().front().stop(), expected);
  }

  // Workers started elsewhere (Kubernetes) present the operator's worker token.
  const v1::Job second = *manager_->Submit(SmallSpec());
  WaitForLaunches(2);
  EXPECT_NE(launcher_.credential_file(1), file);
  ScriptedWorker old_launch(second.id());
  old_launch.credential_ = credential;  // another job's (or launch's) credential
  manager_->ServeWorker(old_launch);
  EXPECT_TRUE(old_launch.received().front().has_stop());
  ScriptedWorker external(second.id());
  external.credential_ = "k8s-workers-secret";
  manager_->ServeWorker(external);
  EXPECT_EQ(Get(second.id()).state(), v1::SUCCEEDED);
}

// Issue 16: a worker cannot point the job's checkpoint at an arbitrary file.
TEST_F(JobManagerTest, ACheckpointOutsideTheOrderedPathFailsTheJob) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  ScriptedWorker forger(job.id());
  forger.forged_checkpoint_ = "/etc/shadow";
  manager_->ServeWorker(forger);
  const v1::Job after = Get(job.id());
  EXPECT_EQ(after.state(), v1::FAILED);
  EXPECT_TRUE(after.checkpoint().empty());
  EXPECT_NE(after.message().find("/etc/shadow"), std::string::npos) << after.message();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));  // a scheduler pass
  EXPECT_EQ(launcher_.num_launches(), 1);                       // not retried
}

// Issue 16: label values a worker sends are bounded (loss terms) or replaced (the phase).
TEST_F(JobManagerTest, WorkerCannotCreateUnboundedMetricSeries) {
  const v1::Job job = *manager_->Submit(SmallSpec());
  WaitForLaunches(1);
  ScriptedWorker noisy(job.id());
  noisy.loss_terms_ = 500;
  manager_->ServeWorker(noisy);
  EXPECT_EQ(Get(job.id()).state(), v1::SUCCEEDED);
  EXPECT_EQ(metrics_.terms().size(), 16u);
  EXPECT_EQ(metrics_.phases().count("made-up-phase"), 0u);
  EXPECT_EQ(metrics_.phases().count("pretrain"), 1u);
}

// A worker's report cannot grow the job's record without end or put NaN into the metrics.
TEST(WorkerReportsTest, AReportIsBoundedInNamesCountAndValues) {
  v1::PhaseReport report;
  auto& metrics = *report.mutable_metrics();
  for (int i = 0; i < 5000; ++i) metrics[absl::StrFormat("m%05d", i)] = i;
  metrics["ftl_evaluation"] = std::nan("");
  metrics["inf"] = INFINITY;
  metrics["a\nforged line"] = 1;
  metrics[std::string(200, 'x')] = 1;
  metrics["holdout_rank1_ur_f"] = 0.5;
  (*report.mutable_losses())["total"] = -INFINITY;
  (*report.mutable_losses())["sfmx"] = 1.5;
  report.set_seconds(std::nan(""));
  report.set_images(-4);
  BoundPhaseReport(report);
  EXPECT_EQ(report.metrics_size(), static_cast<int>(kMaxReportedValues));
  for (const auto& [name, value] : report.metrics()) {
    EXPECT_TRUE(std::isfinite(value)) << name;
    EXPECT_EQ(name.find('\n'), std::string::npos);
    EXPECT_LE(name.size(), kMaxReportedNameBytes);
  }
  EXPECT_EQ(report.metrics().count("holdout_rank1_ur_f"), 1u);  // sorted first: kept
  EXPECT_EQ(report.metrics().count("ftl_evaluation"), 0u);
  EXPECT_EQ(report.losses_size(), 1);
  EXPECT_EQ(report.losses().at("sfmx"), 1.5);
  EXPECT_EQ(report.seconds(), 0);
  EXPECT_EQ(report.images(), 0);

  v1::PhaseProgress progress;
  (*progress.mutable_losses())["total"] = std::nan("");
  (*progress.mutable_losses())["recon"] = 0.25;
  progress.set_images_per_second(INFINITY);
  progress.set_iteration(-1);
  BoundPhaseProgress(progress);
  EXPECT_EQ(progress.losses_size(), 1);
  EXPECT_EQ(progress.images_per_second(), 0);
  EXPECT_EQ(progress.iteration(), 0);
}

}  // namespace
}  // namespace ftl
