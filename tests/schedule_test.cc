#include "common/schedule/schedule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ftl {
namespace {

std::vector<std::string> Names(const Schedule& s) {
  std::vector<std::string> out;
  for (int64_t i = 0; auto p = s.PhaseAt(i); ++i) {
    std::string name = PhaseName(p->kind);
    if (p->round >= 0) name += std::to_string(p->round);
    out.push_back(name);
  }
  return out;
}

ScheduleConfig Ftl(int rounds) {
  ScheduleConfig c;
  c.pretrain_iterations = 100;
  c.rounds = rounds;
  c.stage_iterations = 10;
  return c;
}

TEST(ScheduleTest, FtlAlternatesAfterPretraining) {
  const Schedule s(Ftl(2));
  EXPECT_EQ(Names(s),
            (std::vector<std::string>{"pretrain", "checkpoint", "update_stats0", "stage10",
                                      "stage20", "evaluate0", "checkpoint0", "update_stats1",
                                      "stage11", "stage21", "evaluate1", "checkpoint1"}));
  EXPECT_EQ(s.total_iterations(), 100 + 2 * 2 * 10);
  EXPECT_EQ(s.PhaseAt(3)->iterations, 10);
  EXPECT_FALSE(s.PhaseAt(12).has_value());
  EXPECT_FALSE(s.PhaseAt(-1).has_value());
}

TEST(ScheduleTest, EvaluateAndCheckpointEveryNRoundsAndAfterTheLast) {
  ScheduleConfig c = Ftl(3);
  c.evaluate_every_rounds = 2;
  c.checkpoint_every_rounds = 0;
  EXPECT_EQ(
      Names(Schedule(c)),
      (std::vector<std::string>{"pretrain", "checkpoint", "update_stats0", "stage10", "stage20",
                                "update_stats1", "stage11", "stage21", "evaluate1", "update_stats2",
                                "stage12", "stage22", "evaluate2", "checkpoint2"}));
}

TEST(ScheduleTest, BaselineIsPretrainEvaluateCheckpoint) {
  ScheduleConfig c = Ftl(5);
  c.alternate = false;
  EXPECT_EQ(Names(Schedule(c)), (std::vector<std::string>{"pretrain", "evaluate", "checkpoint"}));
}

TEST(ScheduleTest, NoPretrainingStartsWithStatistics) {
  ScheduleConfig c = Ftl(1);
  c.pretrain_iterations = 0;
  EXPECT_EQ(Names(Schedule(c)), (std::vector<std::string>{"update_stats0", "stage10", "stage20",
                                                          "evaluate0", "checkpoint0"}));
}

TEST(ScheduleTest, RestartPositionIsAfterTheLastCheckpoint) {
  const Schedule s(Ftl(2));
  EXPECT_EQ(s.RestartPosition(0), 0);
  EXPECT_EQ(s.RestartPosition(1), 0);  // failed during the first checkpoint
  EXPECT_EQ(s.RestartPosition(4), 2);  // failed in stage 2 of round 0
  EXPECT_EQ(s.RestartPosition(7), 7);  // failed right after checkpoint0
  EXPECT_EQ(s.RestartPosition(100), 12);
}

TEST(ScheduleTest, IterationsBeforeCountsTrainingPhasesOnly) {
  const Schedule s(Ftl(2));
  EXPECT_EQ(s.IterationsBefore(0), 0);
  EXPECT_EQ(s.IterationsBefore(2), 100);
  EXPECT_EQ(s.IterationsBefore(5), 120);
}

}  // namespace
}  // namespace ftl
