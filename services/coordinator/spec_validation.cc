#include "services/coordinator/spec_validation.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/status_macros.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "services/wire/spec_paths.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

bool IsInside(const fs::path& path, const fs::path& root) {
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

absl::Status CheckString(const std::string& field, const std::string& value) {
  if (value.size() > kMaxSpecStringBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value.size(), " bytes; at most ", kMaxSpecStringBytes));
  }
  if (value.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must not contain a NUL byte"));
  }
  return absl::OkStatus();
}

// Every string field of `message`, however deep, through reflection (so a field added to the
// proto later is bounded too).
absl::Status CheckStrings(const pb::Message& message, const std::string& prefix) {
  const pb::Reflection* reflection = message.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    const std::string name =
        prefix.empty() ? field->name() : absl::StrCat(prefix, ".", field->name());
    if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_STRING) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i)
          FTL_RETURN_IF_ERROR(CheckString(name, reflection->GetRepeatedString(message, field, i)));
      } else {
        FTL_RETURN_IF_ERROR(CheckString(name, reflection->GetString(message, field)));
      }
    } else if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (field->is_repeated()) {
        for (int i = 0; i < reflection->FieldSize(message, field); ++i)
          FTL_RETURN_IF_ERROR(
              CheckStrings(reflection->GetRepeatedMessage(message, field, i), name));
      } else {
        FTL_RETURN_IF_ERROR(CheckStrings(reflection->GetMessage(message, field), name));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status NoDotDot(const std::string& field, const std::string& value) {
  for (const auto& part : fs::path(value)) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": '", value, "' must not contain '..'"));
    }
  }
  return absl::OkStatus();
}

// The real path of `value` (every symlink followed) when it lies inside one of `roots`.
absl::StatusOr<fs::path> ResolveInside(const std::string& field, const std::string& value,
                                       const std::vector<std::string>& roots) {
  FTL_RETURN_IF_ERROR(NoDotDot(field, value));
  std::error_code ec;
  const fs::path resolved = fs::canonical(value, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": '", value, "' does not exist"));
  }
  for (const std::string& root : roots) {
    const fs::path canonical_root = fs::canonical(root, ec);
    if (!ec && IsInside(resolved, canonical_root)) return resolved;
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": '", value, "' (", resolved.string(),
                                                 ") is outside the allowed data roots [",
                                                 absl::StrJoin(roots, ", "), "]"));
}

}  // namespace

absl::StatusOr<AdmittedSpec> ValidateJobSpec(const v1::JobSpec& spec,
                                             const std::vector<std::string>& data_roots) {
  const size_t bytes = spec.ByteSizeLong();
  if (bytes > kMaxSpecBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec: ", bytes, " bytes; a job spec may hold at most ", kMaxSpecBytes));
  }
  FTL_RETURN_IF_ERROR(CheckStrings(spec, ""));
  if (spec.name().size() > kMaxJobNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: ", spec.name().size(), " bytes; at most ", kMaxJobNameBytes));
  }
  FTL_RETURN_IF_ERROR(CheckJobName(spec.name()));
  if (spec.data().path().empty()) return absl::InvalidArgumentError("data.path: is required");
  AdmittedSpec admitted;
  admitted.spec = spec;
  absl::Status status;
  VisitInputPaths(admitted.spec, [&](const char* field, std::string& value) {
    if (!status.ok()) return;
    if (fs::path(value).is_relative()) {
      status = absl::InvalidArgumentError(absl::StrCat(
          field, ": '", value,
          "' is relative; the service needs absolute paths (`ftl submit` makes relative paths "
          "absolute against the folder it runs in)"));
      return;
    }
    absl::StatusOr<fs::path> resolved = ResolveInside(field, value, data_roots);
    if (resolved.ok()) {
      value = resolved->string();
    } else {
      status = resolved.status();
    }
  });
  FTL_RETURN_IF_ERROR(status);
  std::string* output_dir = admitted.spec.mutable_runtime()->mutable_output_dir();
  if (!output_dir->empty() && fs::path(*output_dir).is_absolute()) {
    FTL_ASSIGN_OR_RETURN(const fs::path resolved,
                         ResolveInside("runtime.output_dir", *output_dir, data_roots));
    *output_dir = resolved.string();
  } else if (!output_dir->empty()) {
    FTL_RETURN_IF_ERROR(NoDotDot("runtime.output_dir", *output_dir));
  }
  FTL_ASSIGN_OR_RETURN(admitted.config, JobConfigFromSpec(admitted.spec));
  return admitted;
}

absl::Status CheckPathsAtLaunch(const v1::JobSpec& stored,
                                const std::vector<std::string>& data_roots,
                                const std::string& state_dir) {
  v1::JobSpec spec = stored;
  absl::Status status;
  VisitInputPaths(spec, [&](const char* field, std::string& value) {
    if (!status.ok()) return;
    absl::StatusOr<fs::path> resolved = ResolveInside(field, value, data_roots);
    if (!resolved.ok()) {
      status = resolved.status();
    } else if (*resolved != fs::path(value)) {
      status = absl::InvalidArgumentError(
          absl::StrCat(field, ": '", value, "' now resolves to '", resolved->string(),
                       "' (a symbolic link on the way changed since admission, or an older "
                       "coordinator admitted the job without resolving it: resubmit it)"));
    }
  });
  FTL_RETURN_IF_ERROR(status);
  // The job's folder: under state_dir/jobs, or ID under an output_dir that was under a root.
  std::vector<std::string> output_roots = data_roots;
  output_roots.push_back(state_dir);
  const std::string& output_dir = spec.runtime().output_dir();
  absl::StatusOr<fs::path> resolved = ResolveInside("runtime.output_dir", output_dir, output_roots);
  if (!resolved.ok()) return resolved.status();
  if (*resolved != fs::path(output_dir).lexically_normal()) {
    return absl::InvalidArgumentError(
        absl::StrCat("runtime.output_dir: '", output_dir, "' now resolves to '", resolved->string(),
                     "' (a symbolic link on the way changed since admission, or an older "
                     "coordinator admitted the job without resolving it: resubmit it)"));
  }
  return absl::OkStatus();
}

}  // namespace ftl
