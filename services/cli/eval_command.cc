// ftl eval: a checkpoint's evaluate phase (the same as the worker's: the trainer's figures and
// the Evaluator's protocols), eval.json, and the figures and pictures of the model.
#include <filesystem>
#include <iostream>

#include "absl/strings/str_format.h"
#include "common/checkpoint/checkpoint_names.h"
#include "common/comm/communicator.h"
#include "common/config/job_spec_conversion.h"
#include "common/data/dataset.h"
#include "common/eval/evaluator.h"
#include "common/train/job_runner.h"
#include "common/train/trainer.h"
#include "common/util/file.h"
#include "services/cli/commands.h"
#include "services/cli/tool_support.h"
#include "services/wire/wire.h"

namespace ftl {

int RunEval(const EvalCommandOptions& o) {
  namespace fs = std::filesystem;
  absl::StatusOr<JobConfig> config = LoadJobConfigFile(o.config);
  if (!config.ok()) return Fail(std::string(config.status().message()), 2);
  config->runtime.output_dir = o.out;
  std::error_code ec;
  fs::create_directories(o.out, ec);
  at::set_num_threads(Cores());
  std::cout << "eval: loading " << config->data.path << "\n";
  absl::StatusOr<Dataset> dataset = LoadDataset(config->data, config->model, config->training.seed);
  if (!dataset.ok()) return Fail(std::string(dataset.status().message()));
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  Trainer trainer(*config, *dataset, *comm);
  int64_t position = 0;
  absl::StatusOr<std::string> checkpoint =
      LoadNewestCheckpoint(o.checkpoint, [&](const std::string& file) {
        absl::StatusOr<int64_t> loaded = trainer.LoadCheckpoint(file);
        if (loaded.ok()) position = *loaded;
        return loaded.status();
      });
  if (!checkpoint.ok()) return Fail(std::string(checkpoint.status().message()));
  std::cout << "eval: " << *checkpoint << " (schedule position " << position << ")\n";
  Evaluator evaluator(*config, *dataset, *comm);
  const PhaseReport report = RunEvaluatePhase(trainer, evaluator);
  for (const auto& [name, value] : report.metrics)
    std::cout << absl::StrFormat("  %-28s %.4f\n", name, value);
  const std::string json =
      ToJson(PhaseReportToProto(report), JsonLayout::kIndented, JsonDefaults::kOmit);
  if (absl::Status s = WriteFileAtomically((fs::path(o.out) / "eval.json").string(), json);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  if (absl::Status s = AnalyzeModel(trainer, *dataset, o.out, o.seed, o.plot_script); !s.ok()) {
    return Fail(std::string(s.message()));
  }
  return 0;
}

}  // namespace ftl
