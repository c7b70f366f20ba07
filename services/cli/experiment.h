// `ftl experiment`: does FTL help this data's under-represented identities? A fair, multi-seed
// comparison of FTL with softmax, softmax + m-L2 and long-tail baselines on one split.
//
// Protocol (docs/experiments.md):
//   1. the split (manifests) and, unless given, verification pairs from the hold-out images;
//   2. softmax and softmax + m-L2 train PRETRAIN iterations from scratch;
//   3. every "continued" variant starts from softmax + m-L2's final checkpoint (the paper's
//      pre-trained model) at its own tuned learning rate: FTL (ROUNDS x (STAGE stage-1 + STAGE
//      stage-2)) and its stage-1 controls, softmax + m-L2 continued for 2, 3 or 4 x ROUNDS x
//      STAGE iterations, with class-balanced resampling, with logit adjustment (the plans and
//      their work: common/experiment/variants.h);
//   4. tuning: each variant's hyper-parameters are searched by the same rule (one learning-rate
//      axis for all, widened towards an edge choice; common/experiment/tuning.h), scored on the
//      validation split with a tuning seed that is not a final seed; the hold-out probes never
//      choose anything;
//   5. final runs for every seed, each a plain `mpirun ftl_worker --config
//   runs/V/seedS/config.json`;
//   6. results_seeds.csv (one row per variant and seed), results.csv (mean over seeds, with _se
//      columns), results.md (mean +- s.e. and FTL's paired differences), figures of the first seed.
// Workers run as argument vectors (no shell).
#ifndef FTL_SERVICES_CLI_EXPERIMENT_H_
#define FTL_SERVICES_CLI_EXPERIMENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/job_config.h"
#include "common/protocol/budget.h"
#include "common/protocol/protocol.h"

namespace ftl {

// The variants in table order for a head (--head); `softmax`, `softmax_ml2` and `ftl` keep their
// names. Under a margin head the base is the head itself (no m-L2) and the continued baselines are
// named after it (arcface, arcface_continued, arcface_images, ...); ExperimentVariantPlans' names.
std::vector<std::string> ExperimentVariants(const std::string& head = "softmax");
// A softmax-head variant's name under `head` (softmax_ml2_cb -> arcface_cb); others unchanged.
std::string VariantForHead(const std::string& variant, const std::string& head);

// "1,2,3" -> seeds (at least one, no repeats); InvalidArgument otherwise.
absl::StatusOr<std::vector<uint64_t>> ParseSeeds(const std::string& text);

struct ExperimentOptions {
  DataConfig source;   // data.path / labels_path / format
  SplitOptions split;  // regular, ur_images, holdout, min_train, validation, seed, identities
  std::string out;
  std::vector<std::string> variants;  // ExperimentVariants() order is kept
  ExperimentBudget budget;            // automatic: sized from the training split (AutoBudget)
  std::vector<uint64_t> seeds;        // training seeds of the final runs
  uint64_t tuning_seed = 0;           // the tuning runs' seed; 0: the largest final seed + 1
  int splits = 1;  // >1: the whole experiment on split seeds split.seed, +1, ..., each in its
                   // own folder, then results_splits.{md,csv} over the splits
  bool tune = true;
  std::string grid = "full";  // "full": the search of common/experiment/tuning.h; "quick": lr x 2
  std::string preset = "small";  // model.backbone: small, paper, iresnet18, ...
  std::string head = "softmax";  // loss.head: softmax, cosface or arcface
  int input_size = 0;            // 0: the preset's
  int channels = 0;
  double center_crop = 1.0;
  int batch_size = 32;
  double pretrain_lr = 1e-3;
  double stage_lr = 1e-4;
  std::string pairs, pairs_images;
  int folds = 10;
  int per_fold = 0;
  int ranks = 2;
  int threads = 0;  // per rank; 0: cores / (ranks x jobs)
  int jobs = 1;     // trainings side by side
  std::string worker_binary;
  std::string mpirun = "mpirun";
  std::string base_config;
  std::string plot_script;
};

// Runs the experiment; returns the process exit code (0 ok, 1 a run failed, 2 bad options).
int RunExperiment(const ExperimentOptions& options);

}  // namespace ftl

#endif  // FTL_SERVICES_CLI_EXPERIMENT_H_
