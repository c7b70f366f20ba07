#include <sqlite3.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "services/coordinator/job_store.h"

namespace ftl {
namespace {

class SqliteJobStore : public JobStore {
 public:
  explicit SqliteJobStore(sqlite3* db) : db_(db) {}
  ~SqliteJobStore() override { sqlite3_close(db_); }

  absl::Status Init() {
    absl::MutexLock lock(&mutex_);
    // WAL: readers do not block the writer; synchronous=FULL: a committed change survives a crash.
    return Exec(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
        "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state INTEGER NOT NULL, "
        "job BLOB NOT NULL); "
        "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, id); "
        "CREATE TABLE IF NOT EXISTS quarantined_jobs (id TEXT PRIMARY KEY, job BLOB NOT NULL);");
  }

  absl::Status Put(const v1::Job& job) override {
    absl::MutexLock lock(&mutex_);
    const std::string bytes = job.SerializeAsString();
    sqlite3_stmt* stmt = nullptr;
    absl::Status status = Prepare(
        "INSERT INTO jobs(id, state, job) VALUES(?1, ?2, ?3) "
        "ON CONFLICT(id) DO UPDATE SET state = excluded.state, job = excluded.job",
        &stmt);
    if (!status.ok()) return status;
    sqlite3_bind_text(stmt, 1, job.id().c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 2, job.state());
    sqlite3_bind_blob(stmt, 3, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(stmt);  // one statement = one transaction
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return Error("cannot store job " + job.id());
    return absl::OkStatus();
  }

  absl::StatusOr<v1::Job> Get(const std::string& id) override {
    absl::MutexLock lock(&mutex_);
    sqlite3_stmt* stmt = nullptr;
    absl::Status status = Prepare("SELECT job FROM jobs WHERE id = ?1", &stmt);
    if (!status.ok()) return status;
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    absl::StatusOr<v1::Job> result = absl::NotFoundError(absl::StrCat("no job '", id, "'"));
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      result = Decode(stmt);
      if (!result.ok()) {
        result =
            absl::DataLossError(absl::StrCat("job store: the record of job '", id, "' is corrupt"));
      }
    }
    sqlite3_finalize(stmt);
    return result;
  }

  absl::StatusOr<std::vector<v1::Job>> List(v1::JobState state, const std::string& after_id,
                                            int limit) override {
    absl::MutexLock lock(&mutex_);
    sqlite3_stmt* stmt = nullptr;
    absl::Status status = Prepare(
        "SELECT job, id FROM jobs WHERE id > ?1 AND (?2 = 0 OR state = ?2) ORDER BY id LIMIT ?3",
        &stmt);
    if (!status.ok()) return status;
    sqlite3_bind_text(stmt, 1, after_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(stmt, 2, state);
    sqlite3_bind_int(stmt, 3, limit);
    std::vector<v1::Job> jobs;
    std::vector<std::string> unreadable;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      absl::StatusOr<v1::Job> job = Decode(stmt);
      if (job.ok()) {
        jobs.push_back(*std::move(job));
      } else {
        unreadable.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)));
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return Error("cannot list jobs");
    for (const std::string& id : unreadable) FTL_RETURN_IF_ERROR(Quarantine(id));
    return jobs;
  }

 private:
  // Moves an unreadable record out of `jobs` into `quarantined_jobs` (kept for inspection), so
  // that one damaged row does not stop the coordinator.
  absl::Status Quarantine(const std::string& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    Log("job store: the record of job '", id,
        "' is unreadable (corrupt); moved to table quarantined_jobs of jobs.db and skipped");
    for (const char* sql : {"INSERT OR REPLACE INTO quarantined_jobs(id, job) "
                            "SELECT id, job FROM jobs WHERE id = ?1",
                            "DELETE FROM jobs WHERE id = ?1"}) {
      sqlite3_stmt* stmt = nullptr;
      FTL_RETURN_IF_ERROR(Prepare(sql, &stmt));
      sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
      const int rc = sqlite3_step(stmt);
      sqlite3_finalize(stmt);
      if (rc != SQLITE_DONE) return Error("cannot quarantine job " + id);
    }
    return absl::OkStatus();
  }

  absl::Status Exec(const char* sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message ? message : "?";
      sqlite3_free(message);
      return absl::InternalError(absl::StrCat("job store: ", text));
    }
    return absl::OkStatus();
  }

  absl::Status Prepare(const char* sql, sqlite3_stmt** stmt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    if (sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK) return Error("bad statement");
    return absl::OkStatus();
  }

  absl::Status Error(const std::string& what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return absl::InternalError(absl::StrCat("job store: ", what, ": ", sqlite3_errmsg(db_)));
  }

  static absl::StatusOr<v1::Job> Decode(sqlite3_stmt* stmt) {
    v1::Job job;
    const void* blob = sqlite3_column_blob(stmt, 0);
    const int size = sqlite3_column_bytes(stmt, 0);
    if (!job.ParseFromArray(blob, size))
      return absl::DataLossError("job store: corrupt job record");
    return job;
  }

  // One statement at a time on the connection (and sqlite3_errmsg read right after it).
  absl::Mutex mutex_;
  sqlite3* const db_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::InternalError(absl::StrCat("cannot open job store '", path, "': ", message));
  }
  sqlite3_busy_timeout(db, 5000);
  auto store = std::make_unique<SqliteJobStore>(db);
  absl::Status status = store->Init();
  if (!status.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("job store '", path, "': ", status.message(),
                                                      " (is its folder writable by this user?)"));
  }
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace ftl
