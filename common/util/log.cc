#include "common/util/log.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>

#include "absl/base/const_init.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"

namespace ftl {
namespace {

int g_rank = -1;
// Serialises whole lines from the loader threads and the main thread.
ABSL_CONST_INIT absl::Mutex g_mutex(absl::kConstInit);

}  // namespace

void SetLogRank(int rank) { g_rank = rank; }

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0 || seconds > 1e8) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

void LogLine(const std::string& text) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
  absl::MutexLock lock(&g_mutex);
  if (g_rank >= 0) {
    std::fprintf(stderr, "%s [rank %d] %s\n", stamp, g_rank, text.c_str());
  } else {
    std::fprintf(stderr, "%s %s\n", stamp, text.c_str());
  }
  std::fflush(stderr);
}

}  // namespace ftl
