// Minimal process log: timestamped lines on stderr, prefixed by the MPI rank when one is set.
#ifndef FTL_COMMON_UTIL_LOG_H_
#define FTL_COMMON_UTIL_LOG_H_

#include <string>

#include "absl/strings/str_cat.h"

namespace ftl {

// Sets the rank shown in every line ("[rank 1]"); -1 hides it.
void SetLogRank(int rank);

// Writes one line to stderr, e.g. "2026-11-29 10:00:01 [rank 0] text".
void LogLine(const std::string& text);

// "H:MM:SS" for progress lines and ETAs; "?" for a negative, non-finite or absurd (> 1e8 s) one.
std::string FormatDuration(double seconds);

template <typename... Args>
void Log(const Args&... args) {
  LogLine(absl::StrCat(args...));
}

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_LOG_H_
