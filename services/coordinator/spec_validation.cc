#include "services/coordinator/spec_validation.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"

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
  FTL_RETURN_IF_ERROR(CheckPath("data.path", spec.data().path(), data_roots));
  if (!spec.data().labels_path().empty()) {
    FTL_RETURN_IF_ERROR(CheckPath("data.labels_path", spec.data().labels_path(), data_roots));
  }
  if (!spec.data().yaw_csv().empty()) {
    FTL_RETURN_IF_ERROR(CheckPath("data.yaw_csv", spec.data().yaw_csv(), data_roots));
  }
  for (const auto& [field, value] :
       {std::pair<const char*, std::string>{"evaluation.pairs_path",
                                            spec.evaluation().pairs_path()},
        {"evaluation.pairs_images", spec.evaluation().pairs_images()},
        {"evaluation.holdout_path", spec.evaluation().holdout_path()},
        {"evaluation.holdout_manifest", spec.evaluation().holdout_manifest()},
        {"data.manifest", spec.data().manifest()},
        {"data.regular_identities", spec.data().regular_identities()}}) {
    if (!value.empty()) FTL_RETURN_IF_ERROR(CheckPath(field, value, data_roots));
  }
  if (!spec.runtime().output_dir().empty()) {
    FTL_RETURN_IF_ERROR(CheckPath("runtime.output_dir", spec.runtime().output_dir(), data_roots));
  }
  return JobConfigFromSpec(spec);
}

}  // namespace ftl
