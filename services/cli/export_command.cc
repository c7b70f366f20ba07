// ftl export: a trained model (a checkpoint, or a job's folder) as a TorchScript module that maps
// images to L2-normalised embeddings (common/export/embedding_module.h), as ONNX through
// scripts/ftl_onnx.py, or as weights only in safetensors (common/export/embedding_file.h).
// Written to a temporary file and renamed: never a half-written --out.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/config/job_spec_conversion.h"
#include "common/export/embedding_file.h"
#include "common/export/embedding_module.h"
#include "common/train/trained_model.h"
#include "common/util/subprocess.h"
#include "services/cli/commands.h"
#include "services/cli/tool_support.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

// The folder --out goes into must exist and be writable (checked before any work).
absl::Status CheckWritable(const std::string& out) {
  const fs::path parent = fs::absolute(out).parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out: folder '", parent.string(), "' does not exist"));
  }
  const fs::path probe = parent / absl::StrCat(".ftl-export-probe-", getpid());
  if (!std::ofstream(probe).good()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--out: cannot write in '", parent.string(), "'"));
  }
  fs::remove(probe, ec);
  return absl::OkStatus();
}

}  // namespace

int RunExport(const ExportCommandOptions& o) {
  if (absl::Status writable = CheckWritable(o.out); !writable.ok()) {
    return Fail(std::string(writable.message()), 2);
  }
  EmbeddingModuleOptions options;
  options.features = o.features == "g" ? FeatureLayer::kG : FeatureLayer::kF;
  std::optional<double> config_crop;
  if (!o.config.empty()) {
    absl::StatusOr<JobConfig> config = LoadJobConfigFile(o.config);
    if (!config.ok()) return Fail(std::string(config.status().message()), 2);
    config_crop = config->data.center_crop;
  }
  absl::StatusOr<TrainedModel> trained = LoadTrainedModel(o.checkpoint);
  if (!trained.ok()) return Fail(std::string(trained.status().message()));
  // The crop the model was trained with, from the checkpoint; --config overrides it.
  options.center_crop = config_crop.value_or(trained->center_crop);
  const ModelShape& s = trained->shape;
  auto describe = [&](const char* format) {
    std::cout << "export: " << trained->file << " (preset " << trained->preset << ", "
              << trained->num_classes << " classes) -> " << o.out << " (" << format
              << "): uint8 images [N, " << s.channels << ", " << s.input_size << ", "
              << s.input_size << "] -> " << s.feature_dim << "-d L2-normalised " << o.features
              << (o.features == "f" ? " = R(Enc(x))" : " = Enc(x)") << ", centre crop "
              << options.center_crop << "\n";
  };
  if (o.format == "safetensors") {
    if (absl::Status written =
            WriteEmbeddingFile(trained->model, trained->preset, s, options, o.out);
        !written.ok()) {
      return Fail(absl::StrCat("--out: ", written.message()));
    }
    describe("safetensors, weights only");
    return 0;
  }
  absl::StatusOr<torch::jit::Module> module =
      BuildEmbeddingModule(trained->model, trained->shape, options);
  if (!module.ok()) return Fail(std::string(module.status().message()));
  const std::string temporary = absl::StrCat(o.out, ".tmp-", getpid());
  const std::string script = o.format == "onnx" ? temporary + ".pt" : temporary;
  try {
    module->save(script);
  } catch (const c10::Error& e) {
    return Fail(absl::StrCat("--out: cannot write '", script, "': ", e.what_without_backtrace()));
  }
  std::error_code ec;
  if (o.format == "onnx") {
    std::string output;
    const absl::Status converted =
        RunProcess({o.python, o.onnx_script, "--model", script, "--out", temporary},
                   [&output](const std::string& line) { output += line; });
    fs::remove(script, ec);
    if (!converted.ok()) {
      fs::remove(temporary, ec);
      return Fail(absl::StrCat("ONNX conversion failed (", converted.message(), "):\n", output));
    }
  }
  fs::rename(temporary, o.out, ec);
  if (ec) {
    fs::remove(temporary, ec);
    return Fail(absl::StrCat("--out: cannot write '", o.out, "': ", ec.message()));
  }
  describe(o.format == "onnx" ? "ONNX" : "TorchScript");
  return 0;
}

}  // namespace ftl
