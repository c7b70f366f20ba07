#include "common/protocol/budget.h"

#include <algorithm>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ftl {

absl::StatusOr<ExperimentBudget> ParseBudget(const std::string& text) {
  ExperimentBudget b;
  if (text == "auto") {
    b.automatic = true;
    return b;
  }
  const std::vector<std::string> parts = absl::StrSplit(text, ',');
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &b.pretrain) ||
      !absl::SimpleAtoi(parts[1], &b.rounds) || !absl::SimpleAtoi(parts[2], &b.stage) ||
      b.pretrain < 1 || b.rounds < 1 || b.stage < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--budget: expected auto or PRETRAIN,ROUNDS,STAGE iterations, each at least "
                     "1, e.g. 300,2,100; got '",
                     text, "'"));
  }
  return b;
}

ExperimentBudget AutoBudget(int64_t training_images, int64_t global_batch) {
  training_images = std::max<int64_t>(training_images, 1);
  global_batch = std::max<int64_t>(global_batch, 1);
  const int64_t epochs_iterations =
      (kAutoBudgetEpochs * training_images + global_batch - 1) / global_batch;
  ExperimentBudget b;
  b.pretrain = std::clamp(epochs_iterations, kAutoBudgetMinPretrain, kAutoBudgetMaxPretrain);
  b.rounds = kAutoBudgetRounds;
  b.stage = (b.pretrain + kAutoBudgetStageDivisor - 1) / kAutoBudgetStageDivisor;
  return b;
}

}  // namespace ftl
