#include "common/train/trained_model.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/checkpoint/checkpoint_names.h"
#include "common/util/status_macros.h"

namespace ftl {

std::string NetworkName(const std::string& preset, const ModelShape& shape) {
  return absl::StrCat(preset, ":", FilterName(shape.filter));
}

torch::Tensor NetworkEntry(const std::string& network) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(network.size())}, torch::kUInt8);
  std::copy(network.begin(), network.end(), t.data_ptr<uint8_t>());
  return t;
}

std::string NetworkFromEntry(const torch::Tensor& entry) {
  const torch::Tensor bytes = entry.to(torch::kCPU, torch::kUInt8).contiguous();
  const auto* p = bytes.data_ptr<uint8_t>();
  return std::string(p, p + bytes.numel());
}

namespace {

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
  std::vector<std::pair<std::string, FilterKind>> candidates;
  torch::Tensor network_entry;
  if (archive.try_read("network", network_entry)) {
    const std::string network = NetworkFromEntry(network_entry);
    for (const std::string& preset : BackboneNames()) {
      absl::StatusOr<ModelShape> shape = ModelPreset(preset);
      for (FilterKind f : {FilterKind::kPaper, FilterKind::kMlp, FilterKind::kIdentity}) {
        shape->filter = f;
        if (NetworkName(preset, *shape) == network) candidates.emplace_back(preset, f);
      }
    }
    if (candidates.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("checkpoint '", path, "': network '", network,
                                                     "' is unknown to this build"));
    }
  }
  // Older checkpoints (no "network") predate the IResNets: small or paper, told by their widths.
  for (const std::string& preset : BackboneNames()) {
    if (network_entry.defined()) break;
    absl::StatusOr<ModelShape> shape = ModelPreset(preset);
    if (shape->backbone == BackboneKind::kFtlEncoder)
      candidates.emplace_back(preset, shape->filter);
  }
  for (const auto& [preset, filter] : candidates) {
    absl::StatusOr<ModelShape> shape = ModelPreset(preset);
    shape->filter = filter;
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
      trained.model->load(model_archive);  // throws when a layer is missing or its size differs
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
