#include "common/schedule/schedule.h"

namespace ftl {

const char* PhaseName(PhaseKind kind) {
  switch (kind) {
    case PhaseKind::kPretrain:
      return "pretrain";
    case PhaseKind::kUpdateStats:
      return "update_stats";
    case PhaseKind::kStageOne:
      return "stage1";
    case PhaseKind::kStageTwo:
      return "stage2";
    case PhaseKind::kEvaluate:
      return "evaluate";
    case PhaseKind::kCheckpoint:
      return "checkpoint";
  }
  return "?";
}

Schedule::Schedule(const ScheduleConfig& config) {
  auto add = [this](PhaseKind kind, int round, int64_t iterations) {
    phases_.push_back(Phase{kind, round, iterations, static_cast<int64_t>(phases_.size())});
  };
  if (config.pretrain_iterations > 0) add(PhaseKind::kPretrain, -1, config.pretrain_iterations);
  if (!config.alternate || config.rounds == 0) {
    add(PhaseKind::kEvaluate, -1, 0);
    add(PhaseKind::kCheckpoint, -1, 0);
    return;
  }
  if (config.pretrain_iterations > 0) add(PhaseKind::kCheckpoint, -1, 0);
  auto due = [&config](int every, int round) {
    const bool last = round + 1 == config.rounds;
    return last || (every > 0 && (round + 1) % every == 0);
  };
  for (int round = 0; round < config.rounds; ++round) {
    add(PhaseKind::kUpdateStats, round, 0);
    add(PhaseKind::kStageOne, round, config.stage_iterations);
    add(PhaseKind::kStageTwo, round, config.stage_iterations);
    if (due(config.evaluate_every_rounds, round)) add(PhaseKind::kEvaluate, round, 0);
    if (due(config.checkpoint_every_rounds, round)) add(PhaseKind::kCheckpoint, round, 0);
  }
}

std::optional<Phase> Schedule::PhaseAt(int64_t position) const {
  if (position < 0 || position >= num_phases()) return std::nullopt;
  return phases_[position];
}

int64_t Schedule::IterationsBefore(int64_t position) const {
  int64_t total = 0;
  for (int64_t i = 0; i < position && i < num_phases(); ++i) total += phases_[i].iterations;
  return total;
}

int64_t Schedule::RestartPosition(int64_t position) const {
  for (int64_t i = std::min(position, num_phases()) - 1; i >= 0; --i) {
    if (phases_[i].kind == PhaseKind::kCheckpoint) return i + 1;
  }
  return 0;
}

}  // namespace ftl
