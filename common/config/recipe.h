// The recipe of a training run: every setting that decides its batches, the phases of its schedule
// or the arithmetic of a step, as (field, value) text with the defaults filled in. A checkpoint
// carries it (ftl.recipe) so that `--resume` and the coordinator's retries continue only the run
// that wrote the checkpoint: another job's checkpoint in the same folder is refused, naming the
// fields that differ.
//
// Left out on purpose: paths (data may move), runtime settings (rank count, threads, device,
// output folder), model.classifier_sharding (where the rows live, not what a step computes),
// evaluation, and training.rounds, so that a finished run can be extended by more
// rounds. Shapes the tensors carry (classes, images, D) are checked separately.
#ifndef FTL_COMMON_CONFIG_RECIPE_H_
#define FTL_COMMON_CONFIG_RECIPE_H_

#include <string>
#include <utility>
#include <vector>

#include "common/config/job_config.h"

namespace ftl {

using RecipeFields = std::vector<std::pair<std::string, std::string>>;

// The recipe of `config`, in a fixed order ("loss.head" -> "arcface", "training.stage1_lr" ->
// "1e-05").
RecipeFields TrainingRecipe(const JobConfig& config);

// One "field=value" line per field; ParseRecipe reads it back (lines without '=' are skipped).
std::string EncodeRecipe(const RecipeFields& fields);
RecipeFields ParseRecipe(const std::string& text);

// The fields both recipes hold whose values differ, in `current`'s order, each as
// "loss.head: softmax in the checkpoint, arcface in this job". A field only one side holds (a
// setting another release added or retired) is no difference.
std::vector<std::string> RecipeDifferences(const RecipeFields& saved, const RecipeFields& current);

}  // namespace ftl

#endif  // FTL_COMMON_CONFIG_RECIPE_H_
