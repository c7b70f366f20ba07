// The variants of `ftl experiment` as plans: what each trains, from which model, for how many
// iterations, and how many optimizer steps and images that is for each part of the network.
//
// The budget (common/protocol/budget.h) is PRETRAIN iterations from scratch, then ROUNDS x STAGE
// ("RS" below) stage-1 and RS stage-2 iterations of FTL. An FTL stage-1 iteration holds two or
// three optimizer steps on R and FC (the hard regular batch, the UR batch and the third batch of
// training.stage1_third_batch) and encodes two images batches (three for the "ur" control); a
// stage-2 iteration is one full-model step on one batch. So FTL makes RS encoder steps, 4 RS
// steps of R and FC and sees 3 RS batches: the continued baselines come at 2 RS (equal
// iterations), 3 RS (FTL's images) and 4 RS (FTL's classifier steps) iterations.
#ifndef FTL_COMMON_EXPERIMENT_VARIANTS_H_
#define FTL_COMMON_EXPERIMENT_VARIANTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/config/job_config.h"
#include "common/protocol/budget.h"

namespace ftl {

enum class VariantKind {
  kFromScratch,  // PRETRAIN iterations from a random initialisation
  kContinued,    // from the base's final model: more iterations of the base's loss
  kFtl,          // from the base's final model: ROUNDS x (update_stats, stage 1, stage 2)
};

struct VariantPlan {
  std::string name;  // e.g. "softmax_ml2_steps", "arcface_cb", "ftl_center_noise"
  VariantKind kind = VariantKind::kFromScratch;
  bool ml2 = false;  // the softmax + m-L2 loss (Eq. 4); false: the head alone (Eq. 2 or a margin)
  // kContinued: iterations as a multiple of ROUNDS x STAGE.
  int continued_rs_multiple = 0;
  bool class_balanced = false;  // kContinued: a class uniformly, then one of its images
  bool logit_adjusted = false;  // kContinued: logit adjustment, tau on the grid
  ThirdBatch third_batch = ThirdBatch::kTransfer;  // kFtl: stage 1's third batch
  std::string description;                         // one line, for the results and --help
  // kContinued: the class-balanced loss of Cui et al. (loss.class_balanced_beta, beta on the grid).
  bool class_balanced_loss = false;
};

// Every variant under `head` (loss.head: softmax, cosface, arcface), in table order. Under the
// softmax head the base is softmax_ml2 (after plain softmax); under a margin head it is the head
// itself (m-L2 belongs to free logits only) and its continued variants are named after it
// (arcface_continued, arcface_steps, ...). The FTL variants keep their names under every head.
std::vector<VariantPlan> ExperimentVariantPlans(const std::string& head);

// The variant the continued and FTL variants start from: softmax_ml2, or the margin head.
std::string BaseVariantName(const std::string& head);

// The plan named `name` under `head`; NotFound naming the known variants otherwise.
absl::StatusOr<VariantPlan> FindVariant(const std::string& name, const std::string& head);

// What a variant's own training does under `budget` (the base's pretraining not counted for the
// variants that start from it), in iterations, optimizer steps of each part and images. The
// step and image counts are the plan's: a stage-1 iteration whose round found no hard regular
// sample skips that batch.
struct VariantWork {
  int64_t iterations = 0;
  int64_t encoder_steps = 0;
  int64_t filter_steps = 0;  // R (the paper's feature filter)
  int64_t classifier_steps = 0;
  int64_t image_batches = 0;  // global batches of real images encoded
};
VariantWork WorkOf(const VariantPlan& plan, const ExperimentBudget& budget);

}  // namespace ftl

#endif  // FTL_COMMON_EXPERIMENT_VARIANTS_H_
