#include "common/export/embedding_file.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/checkpoint/safetensors.h"
#include "common/model/module_tensors.h"

namespace ftl {
namespace {

constexpr char kFormat[] = "ftl.embedding_format";
constexpr char kNetwork[] = "ftl.network";
constexpr char kInputSize[] = "ftl.input_size";
constexpr char kChannels[] = "ftl.channels";
constexpr char kFeatureDim[] = "ftl.feature_dim";
constexpr char kFeatures[] = "ftl.features";
constexpr char kCenterCrop[] = "ftl.center_crop";
constexpr char kInput[] = "ftl.input";
constexpr char kFormatVersion[] = "1";

}  // namespace

ModelFileKind SniffModelFile(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status)) return ModelFileKind::kMissing;
  if (std::filesystem::is_directory(status)) return ModelFileKind::kFolder;
  std::ifstream in(path, std::ios::binary);
  std::string head(16, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<size_t>(std::max<std::streamsize>(in.gcount(), 0)));
  const auto size = std::filesystem::file_size(path, error);
  if (LooksLikeCheckpoint(head)) return ModelFileKind::kCheckpoint;
  if (head.rfind("PK\x03\x04", 0) == 0) return ModelFileKind::kTorchScript;
  if (!error && head.size() >= 9 && head[8] == '{') {
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t{static_cast<unsigned char>(head[i])} << (8 * i);
    if (n > 0 && n <= size - 8) return ModelFileKind::kSafetensors;
  }
  return ModelFileKind::kOther;
}

absl::Status WriteEmbeddingFile(const FtlModel& model, const std::string& preset,
                                const ModelShape& shape, const EmbeddingModuleOptions& options,
                                const std::string& path) {
  const bool f = options.features == FeatureLayer::kF;
  NamedTensors out;
  out.tensors = ModuleTensors(*model->enc, "enc.");
  if (f) {
    for (auto& [name, tensor] : ModuleTensors(*model->filter, "filter.")) {
      out.tensors[name] = tensor;
    }
  }
  auto& m = out.metadata;
  m[kFormat] = kFormatVersion;
  m[kNetwork] = NetworkName(preset, shape);
  m[kInputSize] = absl::StrCat(shape.input_size);
  m[kChannels] = absl::StrCat(shape.channels);
  m[kFeatureDim] = absl::StrCat(shape.feature_dim);
  m[kFeatures] = f ? "f" : "g";
  m[kCenterCrop] = absl::StrCat(options.center_crop);
  m[kInput] =
      absl::StrCat("uint8 [N, ", shape.channels, ", ", shape.input_size, ", ", shape.input_size,
                   "] (RGB or grey, cropped and resized as in training) / 255, then Enc "
                   "maps [0, 1] to [-1, 1]; the output is L2-normalised");
  return WriteSafetensorsFile(path, out);
}

absl::StatusOr<EmbeddingFile> ReadEmbeddingFile(const std::string& path) {
  absl::StatusOr<NamedTensors> read = ReadSafetensorsFile(path);
  if (!read.ok()) return read.status();
  const auto& m = read->metadata;
  auto get = [&](const char* key) {
    const auto it = m.find(key);
    return it == m.end() ? std::string() : it->second;
  };
  if (get(kFormat) != kFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is a safetensors file but not an FTL embedding export (its ",
                     kFormat, " is '", get(kFormat), "', expected '", kFormatVersion,
                     "'; make one with `ftl export --format safetensors`)"));
  }
  int input_size = 0, channels = 0, feature_dim = 0;
  double center_crop = 0;
  const std::string features = get(kFeatures);
  if (!absl::SimpleAtoi(get(kInputSize), &input_size) ||
      !absl::SimpleAtoi(get(kChannels), &channels) ||
      !absl::SimpleAtoi(get(kFeatureDim), &feature_dim) ||
      !absl::SimpleAtod(get(kCenterCrop), &center_crop) ||
      !PlausibleModelSize(feature_dim, input_size, channels) ||
      !(center_crop > 0 && center_crop <= 1) || (features != "f" && features != "g")) {
    return absl::DataLossError(absl::StrCat("'", path, "': malformed metadata (", kInputSize, ", ",
                                            kChannels, ", ", kFeatureDim, ", ", kFeatures, " or ",
                                            kCenterCrop, ")"));
  }
  absl::StatusOr<std::pair<std::string, ModelShape>> network =
      NetworkShape(get(kNetwork), feature_dim, input_size, channels);
  if (!network.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "': ", network.status().message()));
  }
  EmbeddingFile out;
  out.preset = network->first;
  out.shape = network->second;
  try {
    out.model = FtlModel(out.shape);
  } catch (const c10::Error& e) {
    return absl::DataLossError(
        absl::StrCat("'", path, "': network ", get(kNetwork),
                     " cannot be built at its size: ", e.what_without_backtrace()));
  }
  const std::string source = absl::StrCat("'", path, "'");
  std::map<std::string, torch::Tensor> enc, filter;
  for (auto& [name, tensor] : read->tensors) {
    if (name.rfind("enc.", 0) == 0) {
      enc[name] = tensor;
    } else if (name.rfind("filter.", 0) == 0 && features == "f") {
      filter[name] = tensor;
    } else {
      return absl::DataLossError(absl::StrCat(
          source, " holds '", name, "', which is no layer of its ", features, "-embedding"));
    }
  }
  absl::Status loaded = LoadModuleTensors(*out.model->enc, enc, "enc.", source);
  if (loaded.ok() && features == "f") {
    loaded = LoadModuleTensors(*out.model->filter, filter, "filter.", source);
  }
  if (!loaded.ok()) return absl::DataLossError(loaded.message());
  out.model->eval();
  out.info.input_size = input_size;
  out.info.channels = channels;
  out.info.feature_dim = feature_dim;
  out.info.features = features;
  out.info.center_crop = center_crop;
  return out;
}

}  // namespace ftl
