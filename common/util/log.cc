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

std::string PrintableText(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      out += absl::StrFormat("\\x%02x", c);
    } else if (c == 0xc2 && i + 1 < text.size() &&
               static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      out += absl::StrFormat("\\u%04x", static_cast<unsigned char>(text[++i]));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void LogLine(const std::string& raw) {
  const std::string text = PrintableText(raw);
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
