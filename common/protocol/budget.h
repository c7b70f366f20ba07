// How long `ftl experiment` trains: PRETRAIN iterations for the variants trained from scratch,
// then ROUNDS x (STAGE stage-1 + STAGE stage-2) for FTL and 2 x ROUNDS x STAGE for the other
// variants continued from softmax + m-L2's model (the equal budget).
//
// The default ("auto") is sized from the training split, because a fixed iteration count is many
// epochs of a small set and a fraction of one of a large one: on LFW's 8665 DevTrain images, 500
// iterations of 32 left every variant at chance (docs/experiments.md).
#ifndef FTL_COMMON_PROTOCOL_BUDGET_H_
#define FTL_COMMON_PROTOCOL_BUDGET_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace ftl {

struct ExperimentBudget {
  int64_t pretrain = 0;    // PRETRAIN: softmax / softmax + m-L2 iterations
  int rounds = 0;          // FTL rounds
  int64_t stage = 0;       // stage-1 and stage-2 iterations per round
  bool automatic = false;  // "auto": not sized yet; AutoBudget sizes it from the split
};

// The rule of --budget auto.
inline constexpr int64_t kAutoBudgetEpochs = 20;         // passes over the training images ...
inline constexpr int64_t kAutoBudgetMinPretrain = 300;   // ... at least this many iterations
inline constexpr int64_t kAutoBudgetMaxPretrain = 3000;  // ... and at most this many
inline constexpr int kAutoBudgetRounds = 2;
inline constexpr int64_t kAutoBudgetStageDivisor = 3;  // STAGE = PRETRAIN / 3, rounded up

// "P,R,S" (each at least 1) or "auto"; InvalidArgument naming the flag otherwise.
absl::StatusOr<ExperimentBudget> ParseBudget(const std::string& text);

// --budget auto for `training_images` seen `global_batch` (batch per rank x ranks) at a time:
// PRETRAIN = kAutoBudgetEpochs epochs rounded up, clamped to [kAutoBudgetMinPretrain,
// kAutoBudgetMaxPretrain]; ROUNDS = kAutoBudgetRounds; STAGE = PRETRAIN / kAutoBudgetStageDivisor
// rounded up. Both arguments at least 1.
ExperimentBudget AutoBudget(int64_t training_images, int64_t global_batch);

}  // namespace ftl

#endif  // FTL_COMMON_PROTOCOL_BUDGET_H_
