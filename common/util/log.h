// Minimal process log: timestamped lines on stderr, prefixed by the MPI rank when one is set.
#ifndef FTL_COMMON_UTIL_LOG_H_
#define FTL_COMMON_UTIL_LOG_H_

#include <string>

#include "absl/strings/str_cat.h"

namespace ftl {

// Sets the rank shown in every line ("[rank 1]"); -1 hides it.
void SetLogRank(int rank);

// `text` with every control character escaped: C0 and DEL as "\n", "\t" or "\xNN", the UTF-8
// encoded C1 controls (U+0080..U+009F, e.g. the 8-bit CSI) as "\u00NN"; all else as it is.
// A job name or a message from a worker can then neither forge log lines nor send terminal
// escape sequences.
std::string PrintableText(const std::string& text);

// Writes one line to stderr, e.g. "2026-11-29 10:00:01 [rank 0] text" (PrintableText(text): one
// record is one line).
void LogLine(const std::string& text);

// "H:MM:SS" for progress lines and ETAs; "?" for a negative, non-finite or absurd (> 1e8 s) one.
std::string FormatDuration(double seconds);

template <typename... Args>
void Log(const Args&... args) {
  LogLine(absl::StrCat(args...));
}

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_LOG_H_
