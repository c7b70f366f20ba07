// Internal to common/data: the decode loop the readers share.
#ifndef FTL_COMMON_DATA_PARALLEL_LOAD_H_
#define FTL_COMMON_DATA_PARALLEL_LOAD_H_

#include <cstdint>
#include <functional>

#include "common/data/dataset.h"

namespace ftl {

// Runs body(i) for i in [0, n) on the intra-op threads; calls `progress` (if set) at most every
// 5 s with (done, n). body must be safe to run concurrently for distinct i.
void ParallelLoad(int64_t n, const std::function<void(int64_t)>& body,
                  const LoadProgress& progress);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_PARALLEL_LOAD_H_
