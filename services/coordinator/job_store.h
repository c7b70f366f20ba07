// Durable job records. The coordinator writes one transaction per state change, so a restart
// (even after SIGKILL) finds every job as it last was.
#ifndef FTL_SERVICES_COORDINATOR_JOB_STORE_H_
#define FTL_SERVICES_COORDINATOR_JOB_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ftl/v1/coordinator.pb.h"

namespace ftl {

class JobStore {
 public:
  virtual ~JobStore() = default;
  // Inserts or replaces the job with job.id(), atomically.
  virtual absl::Status Put(const v1::Job& job) = 0;
  virtual absl::StatusOr<v1::Job> Get(const std::string& id) = 0;
  // Jobs with id > after_id in id order (ids sort by creation), at most `limit`;
  // state == JOB_STATE_UNSPECIFIED means any state.
  virtual absl::StatusOr<std::vector<v1::Job>> List(v1::JobState state, const std::string& after_id,
                                                    int limit) = 0;
  // Ids of records set aside as unreadable (their job folders are not orphans).
  virtual absl::StatusOr<std::vector<std::string>> QuarantinedIds() {
    return std::vector<std::string>{};
  }
};

struct JobStoreOptions {
  // Open a store that was not closed cleanly although its write-ahead log (PATH-wal) is gone:
  // the changes the log held are lost, and the store is opened with what PATH holds.
  bool accept_missing_wal = false;
};

// SQLite in WAL mode at `path` (created if missing). A store left open by a crash keeps its
// latest changes in PATH-wal; opened without that file (copied or restored without it), it is
// refused with FAILED_PRECONDITION naming the file, unless options.accept_missing_wal. Closing the
// store (destroying it) writes the log back into PATH and removes it.
absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path,
                                                             const JobStoreOptions& options = {});

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_JOB_STORE_H_
