#include "common/train/phase_report.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ftl {

std::string DescribeReport(const PhaseReport& report) {
  std::string text = report.phase;
  if (report.round >= 0) absl::StrAppend(&text, " round ", report.round);
  absl::StrAppend(&text, absl::StrFormat(": %.1f s", report.seconds));
  if (report.iterations > 0) {
    absl::StrAppend(&text, absl::StrFormat(", %d iterations, %.1f images/s", report.iterations,
                                           report.images / std::max(1e-9, report.seconds)));
  }
  for (const auto& [k, v] : report.losses)
    absl::StrAppend(&text, absl::StrFormat(", %s=%.4g", k, v));
  for (const auto& [k, v] : report.metrics)
    absl::StrAppend(&text, absl::StrFormat(", %s=%.4g", k, v));
  if (!report.checkpoint.empty()) absl::StrAppend(&text, ", wrote ", report.checkpoint);
  return text;
}

}  // namespace ftl
