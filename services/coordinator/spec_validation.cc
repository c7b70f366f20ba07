#include "services/coordinator/spec_validation.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"
#include "services/wire/spec_paths.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

bool IsInside(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

absl::Status CheckPath(const char* field, const std::string& value,
                       const std::vector<std::string>& roots) {
  for (const auto& part : fs::path(value)) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", value, "' must not contain '..'"));
    }
  }
  std::error_code ec;
  const fs::path resolved = fs::canonical(value, ec);  // follows every symlink
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", value, "' does not exist"));
  }
  for (const std::string& root : roots) {
    const fs::path canonical_root = fs::canonical(root, ec);
    if (!ec && IsInside(resolved, canonical_root)) return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": '", value, "' (", resolved.string(),
                                                 ") is outside the allowed data roots [",
                                                 absl::StrJoin(roots, ", "), "]"));
}

}  // namespace

absl::StatusOr<JobConfig> ValidateJobSpec(const v1::JobSpec& spec,
                                          const std::vector<std::string>& data_roots) {
  if (spec.data().path().empty()) return absl::InvalidArgumentError("data.path: is required");
  v1::JobSpec paths = spec;
  absl::Status status;
  VisitInputPaths(paths, [&](const char* field, std::string& value) {
    if (!status.ok()) return;
    if (fs::path(value).is_relative()) {
      status = absl::InvalidArgumentError(absl::StrCat(
          field, ": '", value,
          "' is relative; the service needs absolute paths (`ftl submit` makes relative paths "
          "absolute against the folder it runs in)"));
      return;
    }
    status = CheckPath(field, value, data_roots);
  });
  FTL_RETURN_IF_ERROR(status);
  const std::string& output_dir = spec.runtime().output_dir();
  if (!output_dir.empty() && fs::path(output_dir).is_absolute()) {
    FTL_RETURN_IF_ERROR(CheckPath("runtime.output_dir", output_dir, data_roots));
  } else if (!output_dir.empty()) {
    for (const auto& part : fs::path(output_dir)) {
      if (part == "..") {
        return absl::InvalidArgumentError(
            absl::StrCat("runtime.output_dir: '", output_dir, "' must not contain '..'"));
      }
    }
  }
  return JobConfigFromSpec(spec);
}

}  // namespace ftl
