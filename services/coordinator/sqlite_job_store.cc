#include <sqlite3.h>

#include <filesystem>

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
  ~SqliteJobStore() override {
    absl::MutexLock lock(&mutex_);
    if (!marked_open_) {  // refused or failed in Init: leave the marks as they were
      sqlite3_close(db_);
      return;
    }
    // A clean close: marked closed, the log written back into the main file and truncated
    // (sqlite3_close then removes it). A failure here leaves the store marked open, which is safe.
    absl::Status status = Exec(
        "UPDATE store_state SET value = 0 WHERE key = 'open'; PRAGMA wal_checkpoint(TRUNCATE);");
    if (!status.ok()) Log("job store: not closed cleanly: ", status.message());
    if (sqlite3_close(db_) != SQLITE_OK) Log("job store: close failed: ", sqlite3_errmsg(db_));
  }

  // `wal_existed`: whether PATH-wal was there before this process opened the store.
  absl::Status Init(bool wal_existed, const std::string& path, const JobStoreOptions& options) {
    absl::MutexLock lock(&mutex_);
    // WAL: readers do not block the writer; synchronous=FULL: a committed change survives a crash.
    FTL_RETURN_IF_ERROR(
        Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
             "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state INTEGER NOT NULL, "
             "job BLOB NOT NULL); "
             "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, id); "
             "CREATE TABLE IF NOT EXISTS quarantined_jobs (id TEXT PRIMARY KEY, job BLOB NOT "
             "NULL); "
             "CREATE TABLE IF NOT EXISTS store_state (key TEXT PRIMARY KEY, value INTEGER);"));
    // 'open' is 1 from this open until a clean close. It is checkpointed into the main file at
    // once, so that it reads 1 even when the log is lost: open + no log = the log was lost (a crash
    // leaves the log file in place; only a clean close removes it).
    sqlite3_stmt* stmt = nullptr;
    FTL_RETURN_IF_ERROR(Prepare("SELECT value FROM store_state WHERE key = 'open'", &stmt));
    const bool left_open = sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1;
    sqlite3_finalize(stmt);
    if (left_open && !wal_existed) {
      if (!options.accept_missing_wal) {
        return absl::FailedPreconditionError(absl::StrCat(
            "job store '", path, "' was not closed cleanly and its write-ahead log '", path,
            "-wal' is missing: the latest job changes are in that file. If the store was copied "
            "or restored, copy '",
            path, "-wal' with it (while no coordinator runs); to start anyway with what '", path,
            "' holds, losing those changes, pass --accept_store_without_wal"));
      }
      Log("job store: '", path,
          "-wal' is missing although the store was not closed cleanly; "
          "opened with what the main file holds (--accept_store_without_wal)");
    }
    FTL_RETURN_IF_ERROR(
        Exec("INSERT INTO store_state(key, value) VALUES('open', 1) "
             "ON CONFLICT(key) DO UPDATE SET value = 1; PRAGMA wal_checkpoint(FULL);"));
    marked_open_ = true;
    return absl::OkStatus();
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
      if (result.ok() && result->id() != id) {
        result = absl::DataLossError(absl::StrCat(
            "job store: the row of job '", id, "' holds the record of job '", result->id(), "'"));
      } else if (!result.ok()) {
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
    // (row id, why it is set aside)
    std::vector<std::pair<std::string, std::string>> unreadable;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const std::string row_id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
      absl::StatusOr<v1::Job> job = Decode(stmt);
      if (!job.ok()) {
        unreadable.emplace_back(row_id, "is unreadable (corrupt)");
      } else if (job->id() != row_id) {
        // Callers page by the ids they get back: a record naming another id would page
        // backwards, or for ever.
        unreadable.emplace_back(row_id, absl::StrCat("holds the record of job '", job->id(), "'"));
      } else {
        jobs.push_back(*std::move(job));
      }
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return Error("cannot list jobs");
    for (const auto& [id, why] : unreadable) FTL_RETURN_IF_ERROR(Quarantine(id, why));
    return jobs;
  }

  absl::StatusOr<std::vector<std::string>> QuarantinedIds() override {
    absl::MutexLock lock(&mutex_);
    sqlite3_stmt* stmt = nullptr;
    FTL_RETURN_IF_ERROR(Prepare("SELECT id FROM quarantined_jobs ORDER BY id", &stmt));
    std::vector<std::string> ids;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      const unsigned char* id = sqlite3_column_text(stmt, 0);  // NULL for a NULL id
      if (id != nullptr) ids.emplace_back(reinterpret_cast<const char*>(id));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return Error("cannot list quarantined jobs");
    return ids;
  }

 private:
  // Moves an unreadable record out of `jobs` into `quarantined_jobs` (kept for inspection), so
  // that one damaged row does not stop the coordinator.
  absl::Status Quarantine(const std::string& id, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    Log("job store: the row of job '", id, "' ", why,
        "; moved to table quarantined_jobs of jobs.db and skipped");
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
  bool marked_open_ ABSL_GUARDED_BY(mutex_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path,
                                                             const JobStoreOptions& options) {
  std::error_code error;
  const bool wal_existed = std::filesystem::exists(path + "-wal", error);
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
  absl::Status status = store->Init(wal_existed, path, options);
  if (status.code() == absl::StatusCode::kFailedPrecondition) return status;
  if (!status.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("job store '", path, "': ", status.message(),
                                                      " (is its folder writable by this user?)"));
  }
  return std::unique_ptr<JobStore>(std::move(store));
}

}  // namespace ftl
