#include "common/train/trained_model.h"

#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/checkpoint/checkpoint_names.h"
#include "common/config/recipe.h"
#include "common/model/module_tensors.h"
#include "common/train/checkpoint_schema.h"
#include "common/util/status_macros.h"

namespace ftl {
namespace {

absl::StatusOr<TrainedModel> LoadFile(const std::string& path) {
  FTL_ASSIGN_OR_RETURN(NamedTensors contents, ReadCheckpointFile(path));
  FTL_ASSIGN_OR_RETURN(const TrainerCheckpoint checkpoint,
                       DecodeTrainerCheckpoint(std::move(contents), path));
  const CheckpointIdentity& id = checkpoint.identity;
  absl::StatusOr<std::pair<std::string, ModelShape>> network =
      NetworkShape(id.network, static_cast<int>(id.feature_dim), static_cast<int>(id.input_size),
                   static_cast<int>(id.channels));
  if (!network.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint '", path, "': ", network.status().message()));
  }
  TrainedModel trained;
  trained.preset = network->first;
  trained.shape = network->second;
  trained.num_classes = id.num_classes;
  trained.file = path;
  for (const auto& [field, value] : ParseRecipe(checkpoint.recipe)) {
    double crop = 0;
    if (field == "data.center_crop" && absl::SimpleAtod(value, &crop) && crop > 0 && crop <= 1) {
      trained.center_crop = crop;
    }
  }
  // The model is built before its weights are checked: its size must be one the file can hold.
  // The classifier is not built (export, embedding and fine-tuning leave it), but its shape is
  // the file's own record of the class count.
  const auto classifier = checkpoint.classifier.find("classifier.weight");
  if (!PlausibleModelSize(id.feature_dim, id.input_size, id.channels) ||
      id.num_classes > std::numeric_limits<int>::max() ||
      classifier == checkpoint.classifier.end() || checkpoint.classifier.size() != 1 ||
      !classifier->second.sizes().equals({id.num_classes, id.feature_dim})) {
    return absl::DataLossError(absl::StrCat(
        "checkpoint '", path,
        "': its classes, D, input size or channels are implausible or do not fit its classifier"));
  }
  try {
    trained.model = FtlModel(trained.shape);
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat("checkpoint '", path, "': network ", id.network,
                     " cannot be built at its size: ", e.what_without_backtrace()));
  }
  absl::Status loaded = LoadModuleTensors(*trained.model, checkpoint.model, "", "the file");
  if (!loaded.ok()) {
    return absl::DataLossError(
        absl::StrCat("checkpoint '", path, "': its weights do not fit its network '", id.network,
                     "' at D ", id.feature_dim, ", input ", id.input_size, "x", id.input_size, "x",
                     id.channels, ": ", loaded.message()));
  }
  trained.model->eval();
  return trained;
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
