#include "common/experiment/variants.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ftl {

std::string BaseVariantName(const std::string& head) {
  return head == "softmax" ? "softmax_ml2" : head;
}

std::vector<VariantPlan> ExperimentVariantPlans(const std::string& head) {
  const bool softmax = head == "softmax";
  const std::string base = BaseVariantName(head);
  std::vector<VariantPlan> plans;
  if (softmax) {
    plans.push_back({"softmax", VariantKind::kFromScratch, false, 0, false, false,
                     ThirdBatch::kTransfer, "Eq. 2 (+ reconstruction) from scratch"});
  }
  plans.push_back({base, VariantKind::kFromScratch, softmax, 0, false, false, ThirdBatch::kTransfer,
                   softmax ? "Eq. 4 (softmax + m-L2 + reconstruction) from scratch: the base"
                           : absl::StrCat(head, " from scratch: the base")});
  auto continued = [&](const std::string& suffix, int multiple, bool cb, bool la,
                       const std::string& what, bool cb_loss = false) {
    plans.push_back({absl::StrCat(base, suffix), VariantKind::kContinued, softmax, multiple, cb, la,
                     ThirdBatch::kTransfer, absl::StrCat(base, " continued ", what)});
    plans.back().class_balanced_loss = cb_loss;
  };
  continued("_continued", 2, false, false, "for FTL's iterations (2 RS)");
  continued("_images", 3, false, false, "for FTL's image count (3 RS)");
  continued("_steps", 4, false, false, "for FTL's classifier steps (4 RS)");
  continued("_cb", 2, true, false, "with class-balanced resampling (2 RS)");
  continued("_cbloss", 2, false, false,
            "with the class-balanced loss of Cui et al. (effective numbers, 2 RS)", true);
  continued("_la", 2, false, true, "with logit adjustment (2 RS)");
  auto ftl = [&](const std::string& name, ThirdBatch third, const std::string& what) {
    plans.push_back(
        {name, VariantKind::kFtl, softmax, 0, false, false, third, absl::StrCat("FTL, ", what)});
  };
  ftl("ftl_no_transfer", ThirdBatch::kNone, "no third batch in stage 1");
  ftl("ftl_second_ur", ThirdBatch::kUr, "a second real UR batch in place of the transferred one");
  ftl("ftl_center", ThirdBatch::kCenter, "the UR centres in place of the transferred batch");
  ftl("ftl_center_noise", ThirdBatch::kCenterNoise,
      "the UR centres plus Gaussian noise of V's top-k covariance");
  ftl("ftl_random_basis", ThirdBatch::kRandomBasis, "Eq. 7 on a random basis of Q's rank");
  ftl("ftl", ThirdBatch::kTransfer, "Eq. 7's transferred batch");
  return plans;
}

absl::StatusOr<VariantPlan> FindVariant(const std::string& name, const std::string& head) {
  std::vector<std::string> known;
  for (VariantPlan& plan : ExperimentVariantPlans(head)) {
    if (plan.name == name) return std::move(plan);
    known.push_back(plan.name);
  }
  return absl::NotFoundError(
      absl::StrCat("unknown variant '", name, "' (", absl::StrJoin(known, ", "), ")"));
}

VariantWork WorkOf(const VariantPlan& plan, const ExperimentBudget& budget) {
  const int64_t rs = int64_t{budget.rounds} * budget.stage;
  VariantWork w;
  switch (plan.kind) {
    case VariantKind::kFromScratch:
    case VariantKind::kContinued: {
      // Every iteration one full-model step on one batch.
      const int64_t n = plan.kind == VariantKind::kFromScratch ? budget.pretrain
                                                               : plan.continued_rs_multiple * rs;
      w.iterations = w.encoder_steps = w.filter_steps = w.classifier_steps = w.image_batches = n;
      break;
    }
    case VariantKind::kFtl: {
      // Stage 1: the hard regular batch, the UR batch, then the third (none: no step; ur: a third
      // real batch), on R and FC only. Stage 2: one full-model step per iteration.
      const bool third_step = plan.third_batch != ThirdBatch::kNone;
      const int64_t stage1_steps = 2 + (third_step ? 1 : 0);
      const int64_t stage1_images = 2 + (plan.third_batch == ThirdBatch::kUr ? 1 : 0);
      w.iterations = 2 * rs;
      w.encoder_steps = rs;
      w.filter_steps = w.classifier_steps = rs * (stage1_steps + 1);
      w.image_batches = rs * (stage1_images + 1);
      break;
    }
  }
  return w;
}

}  // namespace ftl
