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
};

// SQLite in WAL mode at `path` (created if missing).
absl::StatusOr<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path);

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_JOB_STORE_H_
