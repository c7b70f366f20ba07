#include "common/train/trained_model.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/checkpoint/checkpoint_names.h"
#include "common/util/status_macros.h"

namespace ftl {
namespace {

constexpr const char* kPresets[] = {"small", "paper"};

absl::StatusOr<TrainedModel> LoadFile(const std::string& path) {
  torch::serialize::InputArchive archive;
  FTL_RETURN_IF_ERROR(ReadCheckpointFile(path, &archive, torch::Device(torch::kCPU)));
  torch::Tensor format, shape_tensor;
  torch::serialize::InputArchive model_archive;
  try {
    archive.read("format", format);
    archive.read("shape", shape_tensor);
    archive.read("model", model_archive);
  } catch (const c10::Error& e) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint '", path, "': missing or malformed entry: ", e.what_without_backtrace()));
  }
  if (format.numel() != 1 || format.scalar_type() != torch::kInt64 ||
      format.item<int64_t>() != kCheckpointFormat) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint '", path, "': not a checkpoint format this build reads"));
  }
  if (shape_tensor.numel() != 5 || shape_tensor.scalar_type() != torch::kInt64) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "': malformed shape entry"));
  }
  const int64_t* s = shape_tensor.data_ptr<int64_t>();
  std::vector<std::string> tried;
  for (const char* preset : kPresets) {
    absl::StatusOr<ModelShape> shape = ModelPreset(preset);
    if (!shape.ok()) continue;
    shape->feature_dim = static_cast<int>(s[2]);
    shape->input_size = static_cast<int>(s[3]);
    shape->channels = static_cast<int>(s[4]);
    TrainedModel trained;
    trained.shape = *shape;
    trained.preset = preset;
    trained.num_classes = s[0];
    trained.file = path;
    try {
      trained.model = FtlModel(*shape, static_cast<int>(s[0]));
      trained.model->load(model_archive);  // throws when a layer's size differs
    } catch (const c10::Error&) {
      tried.push_back(preset);
      continue;
    }
    trained.model->eval();
    return trained;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("checkpoint '", path, "': its weights (D ", s[2], ", input ", s[3], "x", s[3],
                   "x", s[4], ") match none of the presets [", absl::StrJoin(tried, ", "), "]"));
}

}  // namespace

absl::StatusOr<TrainedModel> LoadTrainedModel(const std::string& file_or_dir) {
  TrainedModel trained;
  FTL_RETURN_IF_ERROR(LoadNewestCheckpoint(file_or_dir, [&](const std::string& file) {
                        absl::StatusOr<TrainedModel> loaded = LoadFile(file);
                        if (loaded.ok()) trained = *std::move(loaded);
                        return loaded.status();
                      }).status());
  return trained;
}

}  // namespace ftl
