#include "services/cli/tool_support.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/analysis/analysis.h"
#include "common/checkpoint/checkpoint_file.h"
#include "common/export/embedding_file.h"
#include "common/train/trained_model.h"
#include "common/util/cpus.h"
#include "common/util/status_macros.h"
#include "common/util/subprocess.h"
#include "google/protobuf/util/json_util.h"

namespace ftl {

namespace fs = std::filesystem;

int Fail(const std::string& message, int code) {
  std::cerr << "ftl: error: " << message << "\n";
  return code;
}

int Cores() { return FindUsableCpus().count; }

void PrintSplit(const DataSplit& split) {
  int64_t regular = 0, ur = 0, beyond = 0;
  for (const IdentitySplit& s : split.identities) {
    (s.regular ? regular : ur) += 1;
    if (s.validation_beyond_budget) beyond += s.validation;
  }
  // Validation images taken beyond a UR budget are not training images: say how many.
  const std::string beyond_text =
      beyond > 0 ? absl::StrFormat(", %d of them beyond the UR budget", beyond) : "";
  std::cout << absl::StrFormat(
      "split: %d identities (%d regular, %d UR): %d training images (%d for fitting), %d "
      "validation%s, %d hold-out probes\n",
      split.identities.size(), regular, ur, split.train.size(), split.fit.size(),
      split.validation.size(), beyond_text, split.holdout.size());
}

int DefaultPerFold(size_t images, int folds) {
  return std::clamp(static_cast<int>(images / (2 * std::max(folds, 1))), 5, 300);
}

// Fig. 6-8: decodings of centres, transferred features and interpolations (needs Dec).
static absl::Status WriteDecodedPictures(Trainer& trainer, const Dataset& dataset,
                                         const std::string& out) {
  const FtlStatistics& stats = trainer.statistics();
  FTL_RETURN_IF_ERROR(WriteCenterPicture(trainer.model(), dataset, stats, trainer.regular_classes(),
                                         (fs::path(out) / "fig6_centers.png").string()));
  FTL_RETURN_IF_ERROR(WriteTransferPicture(trainer.model(), dataset, stats,
                                           trainer.regular_classes(),
                                           (fs::path(out) / "fig7_transfer.png").string()));
  FTL_RETURN_IF_ERROR(
      WriteInterpolationPicture(trainer.model(), dataset, stats, trainer.regular_classes(),
                                (fs::path(out) / "fig8_interpolation.png").string()));
  return absl::OkStatus();
}

absl::Status AnalyzeModel(Trainer& trainer, const Dataset& dataset, const std::string& out,
                          uint64_t seed, const std::string& plot_script,
                          const std::string& stage1_norms_before,
                          const std::string& stage1_norms_after) {
  if (!trainer.statistics().valid) {
    std::cout << "eval: computing class centres and Q (UpdateStats) for the pictures\n";
    trainer.UpdateStats();
  }
  const std::vector<CenterErrorRow> errors = CenterEstimationError(
      trainer.model(), dataset, trainer.regular_classes(), {1, 5, 10, 20}, 10, seed);
  const std::string errors_csv = (fs::path(out) / "center_error.csv").string();
  FTL_RETURN_IF_ERROR(WriteCenterErrorCsv(errors_csv, errors));
  for (const CenterErrorRow& r : errors) {
    std::cout << absl::StrFormat("  centre error %-8s %2d images: %.4f (+- %.4f, %d classes)\n",
                                 r.method, r.images, r.mean_error, r.std_error, r.classes);
  }
  const FtlStatistics& stats = trainer.statistics();
  if (!trainer.model()->dec) {
    std::cout << "eval: model.backbone " << trainer.config().preset
              << " has no decoder: the Fig. 6-8 decoded pictures are skipped\n";
  } else {
    FTL_RETURN_IF_ERROR(WriteDecodedPictures(trainer, dataset, out));
  }
  std::vector<std::string> command = {"/usr/bin/python3", plot_script, "--out", out,
                                      "--center_error",   errors_csv};
  const fs::path norms = fs::path(out) / "weight_norms.csv";
  if (fs::exists(norms)) command.insert(command.end(), {"--weight_norms", norms.string()});
  if (!stage1_norms_before.empty() && !stage1_norms_after.empty()) {
    command.insert(command.end(), {"--stage1_norms", stage1_norms_before, stage1_norms_after});
  }
  std::string output;
  const absl::Status ran =
      RunProcess(command, [&output](const std::string& line) { output += line; });
  std::cout << output;
  if (!ran.ok()) {
    return absl::InternalError(absl::StrCat("plots failed: ", DescribeCommand(command), ": ",
                                            ran.message(),
                                            " (needs python3-matplotlib; see scripts/setup.sh)"));
  }
  std::cout << "eval: figures and pictures in " << out << "\n";
  return absl::OkStatus();
}

absl::StatusOr<CommandModel> ModelForCommand(const std::string& model,
                                             const std::string& checkpoint,
                                             const std::string& features, bool cpu, int threads,
                                             double center_crop) {
  CommandModel loaded;
  const ModelFileKind kind = model.empty() ? ModelFileKind::kOther : SniffModelFile(model);
  if (kind == ModelFileKind::kCheckpoint || kind == ModelFileKind::kFolder) {
    // --model a checkpoint: the same as --checkpoint
    return ModelForCommand("", model, features, cpu, threads, center_crop);
  }
  if (kind == ModelFileKind::kMissing) {
    return absl::NotFoundError(absl::StrCat("--model '", model, "': no such file"));
  }
  if (!model.empty() && kind == ModelFileKind::kOther) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model '", model,
                     "' is neither an `ftl export` file (safetensors or a TorchScript module) nor "
                     "a checkpoint"));
  }
  if (kind == ModelFileKind::kSafetensors) {
    FTL_ASSIGN_OR_RETURN(EmbeddingFile file, ReadEmbeddingFile(model));
    EmbeddingModuleOptions options;
    options.features = file.info.features == "g" ? FeatureLayer::kG : FeatureLayer::kF;
    options.center_crop = file.info.center_crop;
    FTL_ASSIGN_OR_RETURN(loaded.module, BuildEmbeddingModule(file.model, file.shape, options));
    loaded.info = file.info;
  } else if (!model.empty()) {
    if (kind == ModelFileKind::kTorchScript) {
      std::cerr << "ftl: note: '" << model
                << "' is a TorchScript module: loading it runs the code it carries, with your "
                   "permissions. Load only modules you made or trust; `ftl export --format "
                   "safetensors` (or --checkpoint) is the code-free route.\n";
    }
    FTL_ASSIGN_OR_RETURN(loaded.module, LoadEmbeddingModule(model, &loaded.info));
  } else {
    FTL_ASSIGN_OR_RETURN(const TrainedModel trained, LoadTrainedModel(checkpoint));
    EmbeddingModuleOptions options;
    options.features = features == "g" ? FeatureLayer::kG : FeatureLayer::kF;
    options.center_crop = trained.center_crop;
    FTL_ASSIGN_OR_RETURN(loaded.module,
                         BuildEmbeddingModule(trained.model, trained.shape, options));
    loaded.info.input_size = trained.shape.input_size;
    loaded.info.channels = trained.shape.channels;
    loaded.info.feature_dim = trained.shape.feature_dim;
    loaded.info.features = features;
    loaded.info.center_crop = options.center_crop;
  }
  loaded.image.size = loaded.info.input_size;
  loaded.image.channels = loaded.info.channels;
  if (center_crop > 0) loaded.info.center_crop = center_crop;
  loaded.image.center_crop = loaded.info.center_crop;
  loaded.device = torch::cuda::is_available() && !cpu ? torch::kCUDA : torch::kCPU;
  loaded.module.to(loaded.device);
  at::set_num_threads(threads > 0 ? threads : Cores());
  return loaded;
}

torch::Tensor CommandModel::Embed(const torch::Tensor& images, bool flip) {
  torch::NoGradGuard no_grad;
  const torch::Tensor x = images.to(device);
  torch::Tensor e = module.forward({x}).toTensor();
  if (flip) {
    // As InsightFace's evaluation: the image and its mirror image together.
    e = e + module.forward({x.flip({3})}).toTensor();
    e = e / e.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);
  }
  return e.to(torch::kCPU, torch::kFloat32).contiguous();
}

}  // namespace ftl
