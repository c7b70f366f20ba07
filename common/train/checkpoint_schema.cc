#include "common/train/checkpoint_schema.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ftl {
namespace {

constexpr char kFormat[] = "ftl.format";
constexpr char kNetwork[] = "ftl.network";
constexpr char kClasses[] = "ftl.classes";
constexpr char kImages[] = "ftl.images";
constexpr char kFeatureDim[] = "ftl.feature_dim";
constexpr char kInputSize[] = "ftl.input_size";
constexpr char kChannels[] = "ftl.channels";
constexpr char kPosition[] = "ftl.position";
constexpr char kSteps[] = "ftl.steps";
constexpr char kRecipe[] = "ftl.recipe";

constexpr char kModel[] = "model/";
constexpr char kClassifier[] = "model/classifier.";
constexpr char kOptimizer[] = "optimizer/";
constexpr char kCenters[] = "stats/centers";
constexpr char kBasis[] = "stats/basis";
constexpr char kEigenvalues[] = "stats/eigenvalues";
constexpr char kMeanDistances[] = "stats/mean_distances";
constexpr char kHardMask[] = "stats/hard_mask";
constexpr char kEnergyKept[] = "stats/energy_kept";

bool StartsWith(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

NamedTensors EncodeTrainerCheckpoint(const TrainerCheckpoint& c) {
  NamedTensors out;
  auto& m = out.metadata;
  m[kFormat] = absl::StrCat(kCheckpointFormat);
  m[kNetwork] = c.identity.network;
  m[kClasses] = absl::StrCat(c.identity.num_classes);
  m[kImages] = absl::StrCat(c.identity.num_images);
  m[kFeatureDim] = absl::StrCat(c.identity.feature_dim);
  m[kInputSize] = absl::StrCat(c.identity.input_size);
  m[kChannels] = absl::StrCat(c.identity.channels);
  m[kPosition] = absl::StrCat(c.position);
  m[kSteps] = absl::StrCat(c.pretrain_step, ",", c.stage1_step, ",", c.stage2_step);
  if (!c.recipe.empty()) m[kRecipe] = c.recipe;
  for (const auto& [name, tensor] : c.model) out.tensors[kModel + name] = tensor;
  for (const auto& [name, tensor] : c.classifier) out.tensors[kModel + name] = tensor;
  for (const auto& [phase, state] : c.optimizers) {
    for (const auto& [name, tensor] : state) {
      out.tensors[absl::StrCat(kOptimizer, phase, "/", name)] = tensor;
    }
  }
  if (c.stats.valid) {
    out.tensors[kCenters] = c.stats.centers;
    out.tensors[kBasis] = c.stats.basis;
    out.tensors[kEigenvalues] = c.stats.eigenvalues;
    out.tensors[kMeanDistances] = c.stats.mean_distances;
    out.tensors[kHardMask] = c.stats.hard_mask.to(torch::kUInt8);
    out.tensors[kEnergyKept] = torch::tensor({c.stats.energy_kept}, torch::kFloat64);
  }
  return out;
}

absl::StatusOr<TrainerCheckpoint> DecodeTrainerCheckpoint(NamedTensors contents,
                                                          const std::string& path) {
  auto damaged = [&](auto&&... parts) {
    return absl::DataLossError(absl::StrCat("checkpoint '", path, "': ", parts...));
  };
  const auto& m = contents.metadata;
  auto text = [&](const char* key) -> absl::StatusOr<std::string> {
    const auto it = m.find(key);
    if (it == m.end()) return damaged("no metadata '", key, "'");
    return it->second;
  };
  auto number = [&](const char* key, int64_t* out) -> absl::Status {
    absl::StatusOr<std::string> value = text(key);
    if (!value.ok()) return value.status();
    if (!absl::SimpleAtoi(*value, out) || *out < 0) {
      return damaged("metadata '", key, "' is not a count: '", *value, "'");
    }
    return absl::OkStatus();
  };
  int64_t format = 0;
  if (absl::Status s = number(kFormat, &format); !s.ok()) return s;
  if (format != kCheckpointFormat) {
    return absl::InvalidArgumentError(absl::StrCat("checkpoint '", path, "': format ", format,
                                                   " is not one this build reads (",
                                                   kCheckpointFormat, ")"));
  }
  TrainerCheckpoint c;
  absl::StatusOr<std::string> network = text(kNetwork);
  if (!network.ok()) return network.status();
  c.identity.network = *network;
  for (const auto& [key, out] :
       std::vector<std::pair<const char*, int64_t*>>{{kClasses, &c.identity.num_classes},
                                                     {kImages, &c.identity.num_images},
                                                     {kFeatureDim, &c.identity.feature_dim},
                                                     {kInputSize, &c.identity.input_size},
                                                     {kChannels, &c.identity.channels},
                                                     {kPosition, &c.position}}) {
    if (absl::Status s = number(key, out); !s.ok()) return s;
  }
  absl::StatusOr<std::string> steps = text(kSteps);
  if (!steps.ok()) return steps.status();
  const std::vector<std::string> parts = absl::StrSplit(*steps, ',');
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &c.pretrain_step) ||
      !absl::SimpleAtoi(parts[1], &c.stage1_step) || !absl::SimpleAtoi(parts[2], &c.stage2_step) ||
      c.pretrain_step < 0 || c.stage1_step < 0 || c.stage2_step < 0) {
    return damaged("metadata '", kSteps, "' is not three counts: '", *steps, "'");
  }
  if (const auto it = m.find(kRecipe); it != m.end()) c.recipe = it->second;

  std::map<std::string, torch::Tensor*> stats = {{kCenters, &c.stats.centers},
                                                 {kBasis, &c.stats.basis},
                                                 {kEigenvalues, &c.stats.eigenvalues},
                                                 {kMeanDistances, &c.stats.mean_distances},
                                                 {kHardMask, &c.stats.hard_mask}};
  torch::Tensor energy;
  stats[kEnergyKept] = &energy;
  int stats_found = 0;
  for (auto& [name, tensor] : contents.tensors) {
    if (StartsWith(name, kModel)) {
      TensorMap& part = StartsWith(name, kClassifier) ? c.classifier : c.model;
      part[name.substr(sizeof(kModel) - 1)] = std::move(tensor);
      continue;
    }
    if (StartsWith(name, kOptimizer)) {
      const std::string rest = name.substr(sizeof(kOptimizer) - 1);
      const size_t slash = rest.find('/');
      const std::string phase = rest.substr(0, slash);
      bool known = false;
      for (const char* p : kOptimizerPhases) known = known || phase == p;
      if (slash == std::string::npos || !known) return damaged("unknown entry '", name, "'");
      c.optimizers[phase][rest.substr(slash + 1)] = std::move(tensor);
      continue;
    }
    const auto it = stats.find(name);
    if (it == stats.end()) return damaged("unknown entry '", name, "'");
    *it->second = std::move(tensor);
    ++stats_found;
  }
  if (c.model.empty()) return damaged("no model weights (model/...)");
  if (stats_found != 0 && stats_found != static_cast<int>(stats.size())) {
    return damaged("part of the FTL statistics (stats/...) is missing");
  }
  if (stats_found != 0) {
    const int64_t n = c.identity.num_classes;
    const torch::Tensor& centers = c.stats.centers;
    const torch::Tensor& basis = c.stats.basis;
    if (centers.dim() != 2 || centers.size(0) != n || centers.size(1) != c.identity.feature_dim ||
        centers.scalar_type() != torch::kFloat32 || basis.dim() != 2 ||
        basis.size(0) != c.identity.feature_dim || basis.scalar_type() != torch::kFloat32 ||
        c.stats.eigenvalues.dim() != 1 || c.stats.eigenvalues.scalar_type() != torch::kFloat64 ||
        c.stats.mean_distances.dim() != 1 || c.stats.mean_distances.size(0) != n ||
        c.stats.mean_distances.scalar_type() != torch::kFloat64 || c.stats.hard_mask.dim() != 1 ||
        c.stats.hard_mask.size(0) != c.identity.num_images ||
        c.stats.hard_mask.scalar_type() != torch::kUInt8 || energy.numel() != 1 ||
        energy.scalar_type() != torch::kFloat64) {
      return damaged("the FTL statistics (stats/...) do not have the shapes of its ", n,
                     " classes, ", c.identity.num_images, " images and D ", c.identity.feature_dim);
    }
    c.stats.hard_mask = c.stats.hard_mask.to(torch::kBool);
    c.stats.energy_kept = energy.item<double>();
    c.stats.valid = true;
  }
  return c;
}

}  // namespace ftl
