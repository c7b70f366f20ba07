#include "services/wire/spec_paths.h"

#include <filesystem>
#include <utility>
#include <vector>

namespace ftl {

void VisitInputPaths(v1::JobSpec& spec,
                     const std::function<void(const char* field, std::string& value)>& visit) {
  // Only messages that are present: visiting must not add empty ones to the spec.
  std::vector<std::pair<const char*, std::string*>> fields;
  if (spec.has_data()) {
    v1::DataSpec& data = *spec.mutable_data();
    fields.insert(fields.end(), {{"data.path", data.mutable_path()},
                                 {"data.labels_path", data.mutable_labels_path()},
                                 {"data.yaw_csv", data.mutable_yaw_csv()},
                                 {"data.manifest", data.mutable_manifest()},
                                 {"data.regular_identities", data.mutable_regular_identities()}});
  }
  if (spec.has_evaluation()) {
    v1::EvaluationSpec& evaluation = *spec.mutable_evaluation();
    fields.insert(fields.end(),
                  {{"evaluation.pairs_path", evaluation.mutable_pairs_path()},
                   {"evaluation.pairs_images", evaluation.mutable_pairs_images()},
                   {"evaluation.holdout_path", evaluation.mutable_holdout_path()},
                   {"evaluation.holdout_manifest", evaluation.mutable_holdout_manifest()}});
    for (std::string& bin : *evaluation.mutable_bin_sets()) {
      fields.push_back({"evaluation.bin_sets", &bin});
    }
  }
  if (spec.has_model())
    fields.push_back({"model.init_from", spec.mutable_model()->mutable_init_from()});
  if (spec.has_training()) {
    fields.push_back(
        {"training.init_checkpoint", spec.mutable_training()->mutable_init_checkpoint()});
  }
  for (const auto& [field, value] : fields) {
    if (!value->empty()) visit(field, *value);
  }
}

void ResolveInputPaths(const std::string& base_dir, v1::JobSpec* spec) {
  namespace fs = std::filesystem;
  VisitInputPaths(*spec, [&](const char*, std::string& value) {
    const fs::path path(value);
    if (path.is_relative()) value = (fs::path(base_dir) / path).lexically_normal().string();
  });
}

}  // namespace ftl
