// How much work this process has finished: training steps, batches of a statistics or evaluation
// pass, images decoded, image folders listed, collectives returned (on a GPU: enqueued; the step's
// next host read waits for them). Rank 0's heartbeat carries the count, so the
// coordinator can tell workers that are alive but stuck (a deadlock, a device call that never
// returns, a wait on a peer without a timeout) from slow ones: a stuck worker's count stops moving
// while its heartbeat thread keeps beating. Thread-safe; one relaxed atomic add per unit.
#ifndef FTL_COMMON_UTIL_WORK_COUNTER_H_
#define FTL_COMMON_UTIL_WORK_COUNTER_H_

#include <cstdint>

namespace ftl {

// Adds `units` finished units of work (any kind: only whether the count moves matters).
void CountWork(int64_t units = 1);

// Units finished since the process started.
int64_t WorkDone();

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_WORK_COUNTER_H_
