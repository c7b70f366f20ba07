// What a worker reports is bounded before the coordinator keeps, publishes or exports it: a worker
// credential must not be able to grow a job's record (and every `ftl status` reply) without end,
// create metric series without end, or put NaN into figures documented as shares.
#ifndef FTL_SERVICES_COORDINATOR_WORKER_REPORTS_H_
#define FTL_SERVICES_COORDINATOR_WORKER_REPORTS_H_

#include <cstddef>

#include "ftl/v1/coordinator.pb.h"
#include "ftl/v1/job_spec.pb.h"

namespace ftl {

// Entries of a report's maps (losses, metrics) kept: the first this many by name.
inline constexpr size_t kMaxReportedValues = 64;
// A reported name: 1 to this many bytes of letters, digits, '_', '.', '-'.
inline constexpr size_t kMaxReportedNameBytes = 96;

// Drops map entries with another name or a value that is not finite, keeps the first
// kMaxReportedValues of each map, and sets non-finite or negative counts and times to 0.
void BoundPhaseReport(v1::PhaseReport& report);
void BoundPhaseProgress(v1::PhaseProgress& progress);

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_WORKER_REPORTS_H_
