#include "services/coordinator/worker_reports.h"

#include <cmath>
#include <map>
#include <string>

#include "google/protobuf/map.h"

namespace ftl {
namespace {

bool PlainName(const std::string& name) {
  if (name.empty() || name.size() > kMaxReportedNameBytes) return false;
  for (const char c : name) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '.' || c == '-';
    if (!plain) return false;
  }
  return true;
}

void BoundValues(google::protobuf::Map<std::string, double>& values) {
  // A protobuf map has no order: keep the first names in sorted order, the same on every call.
  std::map<std::string, double> kept;
  for (const auto& [name, value] : values) {
    if (PlainName(name) && std::isfinite(value)) kept.emplace(name, value);
  }
  values.clear();
  for (const auto& [name, value] : kept) {
    if (values.size() == kMaxReportedValues) break;
    values[name] = value;
  }
}

double Finite(double value) { return std::isfinite(value) && value >= 0 ? value : 0; }

}  // namespace

void BoundPhaseReport(v1::PhaseReport& report) {
  BoundValues(*report.mutable_losses());
  BoundValues(*report.mutable_metrics());
  report.set_seconds(Finite(report.seconds()));
  if (report.iterations() < 0) report.set_iterations(0);
  if (report.images() < 0) report.set_images(0);
}

void BoundPhaseProgress(v1::PhaseProgress& progress) {
  BoundValues(*progress.mutable_losses());
  progress.set_images_per_second(Finite(progress.images_per_second()));
  progress.set_step_seconds(Finite(progress.step_seconds()));
  if (progress.iteration() < 0) progress.set_iteration(0);
  if (progress.iterations() < 0) progress.set_iterations(0);
}

}  // namespace ftl
