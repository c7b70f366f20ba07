#include "common/config/recipe.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ftl {
namespace {

// The shortest decimal text that reads back as the same double (1e-05, not 1.0000000000000001e-05;
// absl::StrCat keeps only 6 digits, which would make 1e-5 and 1.000001e-5 the same recipe).
std::string Exact(double value) {
  char text[40];
  for (int digits = 6; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

const char* ReductionName(Reduction r) { return r == Reduction::kSum ? "sum" : "mean"; }
const char* SamplingName(Sampling s) {
  return s == Sampling::kClassBalanced ? "class_balanced" : "instance";
}
const char* OptimizerName(OptimizerKind k) { return k == OptimizerKind::kSgd ? "sgd" : "adam"; }
const char* ScheduleName(LrSchedule s) {
  switch (s) {
    case LrSchedule::kPoly:
      return "poly";
    case LrSchedule::kCosine:
      return "cosine";
    case LrSchedule::kConstant:
      break;
  }
  return "constant";
}

void AddOptimizer(const std::string& prefix, const OptimizerConfig& o, RecipeFields* out) {
  out->emplace_back(prefix + "kind", OptimizerName(o.kind));
  out->emplace_back(prefix + "momentum", Exact(o.momentum));
  out->emplace_back(prefix + "nesterov", o.nesterov ? "true" : "false");
  out->emplace_back(prefix + "weight_decay", Exact(o.weight_decay));
  out->emplace_back(prefix + "schedule", ScheduleName(o.schedule));
  out->emplace_back(prefix + "warmup_iterations", absl::StrCat(o.warmup_iterations));
  out->emplace_back(prefix + "poly_power", Exact(o.poly_power));
  out->emplace_back(prefix + "clip_grad_norm", Exact(o.clip_grad_norm));
}

}  // namespace

RecipeFields TrainingRecipe(const JobConfig& c) {
  RecipeFields r;
  auto add = [&r](const char* field, std::string value) {
    r.emplace_back(field, std::move(value));
  };
  add("model.network", NetworkName(c.preset, c.model));
  add("data.format", c.data.format);
  add("data.ur_max_images", absl::StrCat(c.data.ur_max_images));
  add("data.cut_classes", absl::StrCat(c.data.cut_classes));
  add("data.cut_to_images", absl::StrCat(c.data.cut_to_images));
  add("data.max_classes", absl::StrCat(c.data.max_classes));
  add("data.max_images", absl::StrCat(c.data.max_images));
  add("data.center_crop", Exact(c.data.center_crop));
  add("data.yaw_tau", Exact(c.data.yaw_tau));
  add("data.random_flip", c.data.random_flip ? "true" : "false");
  add("data.random_crop_pixels", absl::StrCat(c.data.random_crop_pixels));
  const LossWeights& l = c.loss;
  add("loss.sfmx", Exact(l.sfmx));
  add("loss.recon", Exact(l.recon));
  add("loss.reg", Exact(l.reg));
  add("loss.ml2_reduction", ReductionName(l.ml2_reduction));
  add("loss.recon_reduction", ReductionName(l.recon_reduction));
  add("loss.logit_adjust_tau", Exact(l.logit_adjust_tau));
  add("loss.class_balanced_beta", Exact(l.class_balanced_beta));
  add("loss.head", HeadName(l.head.kind));
  add("loss.scale", Exact(l.head.scale));
  add("loss.m1", Exact(l.head.m1));
  add("loss.m2", Exact(l.head.m2));
  add("loss.m3", Exact(l.head.m3));
  add("loss.easy_margin", l.head.easy_margin ? "true" : "false");
  const TrainingConfig& t = c.training;
  add("training.method", MethodName(t.method));
  add("training.batch_size", absl::StrCat(t.batch_size));
  add("training.pretrain_iterations", absl::StrCat(t.pretrain_iterations));
  add("training.stage_iterations", absl::StrCat(t.stage_iterations));
  add("training.pretrain_lr", Exact(t.pretrain_lr));
  add("training.stage1_lr", Exact(t.stage1_lr));
  add("training.stage2_lr", Exact(t.stage2_lr));
  add("training.seed", absl::StrCat(t.seed));
  add("training.pca_components", absl::StrCat(t.pca_components));
  add("training.pca_energy", Exact(t.pca_energy));
  add("training.checkpoint_every_rounds", absl::StrCat(t.checkpoint_every_rounds));
  add("training.evaluate_every_rounds", absl::StrCat(t.evaluate_every_rounds));
  add("training.pretrain_sampling", SamplingName(t.pretrain_sampling));
  add("training.stage1_third_batch", ThirdBatchName(t.stage1_third_batch));
  AddOptimizer("training.pretrain_optimizer.", t.pretrain_optimizer, &r);
  AddOptimizer("training.stage1_optimizer.", t.stage1_optimizer, &r);
  AddOptimizer("training.stage2_optimizer.", t.stage2_optimizer, &r);
  return r;
}

std::string EncodeRecipe(const RecipeFields& fields) {
  std::string text;
  for (const auto& [field, value] : fields) absl::StrAppend(&text, field, "=", value, "\n");
  return text;
}

RecipeFields ParseRecipe(const std::string& text) {
  RecipeFields fields;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    fields.emplace_back(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
  }
  return fields;
}

std::vector<std::string> RecipeDifferences(const RecipeFields& saved, const RecipeFields& current) {
  const std::map<std::string, std::string> in_saved(saved.begin(), saved.end());
  std::vector<std::string> differences;
  for (const auto& [field, value] : current) {
    const auto it = in_saved.find(field);
    // A field only one side has came with another release (a setting added or retired): not a
    // difference of the run, or every older checkpoint would be refused.
    if (it == in_saved.end() || it->second == value) continue;
    differences.push_back(
        absl::StrCat(field, ": ", it->second, " in the checkpoint, ", value, " in this job"));
  }
  return differences;
}

}  // namespace ftl
