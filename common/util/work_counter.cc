#include "common/util/work_counter.h"

#include <atomic>

namespace ftl {
namespace {

std::atomic<int64_t>& Counter() {
  static std::atomic<int64_t> counter{0};
  return counter;
}

}  // namespace

void CountWork(int64_t units) { Counter().fetch_add(units, std::memory_order_relaxed); }

int64_t WorkDone() { return Counter().load(std::memory_order_relaxed); }

}  // namespace ftl
