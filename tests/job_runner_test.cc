// The per-phase driver on the local communicator, driven by a scripted PhaseDriver (as
// coordinator_test.cc drives the coordinator through fakes).
#include "common/train/job_runner.h"

#include <gtest/gtest.h>

#include <deque>
#include <filesystem>

#include "common/checkpoint/checkpoint_file.h"
#include "common/eval/metric_names.h"
#include "common/schedule/job_schedule.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;

// Hands out the scripted orders, then stop; records what the runner tells it.
class ScriptedDriver : public PhaseDriver {
 public:
  explicit ScriptedDriver(std::deque<absl::StatusOr<std::optional<PhaseOrder>>> script)
      : script_(std::move(script)) {}

  void Begin(int64_t resumed_position) override { begun_at.push_back(resumed_position); }
  absl::StatusOr<std::optional<PhaseOrder>> NextPhase() override {
    if (script_.empty()) return std::optional<PhaseOrder>();
    auto next = script_.front();
    script_.pop_front();
    return next;
  }
  void OnProgress(int64_t position, const StepProgress& progress, double) override {
    progress_positions.push_back(position);
    last_progress = progress;
  }
  absl::Status OnPhaseDone(int64_t position, const PhaseReport& report) override {
    done.emplace_back(position, report);
    return fail_after_phase ? absl::ResourceExhaustedError("disk full") : absl::OkStatus();
  }

  std::vector<int64_t> begun_at;
  std::vector<int64_t> progress_positions;
  StepProgress last_progress{};
  std::vector<std::pair<int64_t, PhaseReport>> done;
  bool fail_after_phase = false;

 private:
  std::deque<absl::StatusOr<std::optional<PhaseOrder>>> script_;
};

absl::StatusOr<std::optional<PhaseOrder>> Order(int64_t position, std::string path = "") {
  return std::optional<PhaseOrder>(PhaseOrder{position, std::move(path)});
}

class JobRunnerTest : public ::testing::Test {
 protected:
  JobRunnerTest()
      : config_(Config()),
        data_(testing::SyntheticDataset({12, 10, 9, 3, 2, 2})),
        comm_(CreateLocalCommunicator()),
        schedule_(ScheduleConfigFor(config_)),
        trainer_(config_, data_, *comm_),
        evaluator_(config_, data_, *comm_) {}

  static JobConfig Config() {
    JobConfig config = testing::TinyJobConfig();
    config.training.pretrain_iterations = 3;
    config.training.rounds = 1;
    config.training.stage_iterations = 2;
    config.runtime.output_dir = ::testing::TempDir() + "/job_runner";
    return config;
  }

  absl::Status Run(PhaseDriver& driver, int64_t resumed_position = 0, int keep_checkpoints = 3) {
    RunPhasesOptions options;
    options.resumed_position = resumed_position;
    options.progress_seconds = 0;
    options.keep_checkpoints = keep_checkpoints;
    return RunPhases(schedule_, trainer_, evaluator_, &driver, *comm_, options);
  }

  JobConfig config_;
  Dataset data_;
  std::unique_ptr<Communicator> comm_;
  Schedule schedule_;
  Trainer trainer_;
  Evaluator evaluator_;
};

TEST_F(JobRunnerTest, ScheduleIsWhatTheTestsAssume) {
  // pretrain, checkpoint, update_stats, stage1, stage2, evaluate, checkpoint
  ASSERT_EQ(schedule_.num_phases(), 7);
  EXPECT_EQ(schedule_.PhaseAt(0)->kind, PhaseKind::kPretrain);
  EXPECT_EQ(schedule_.PhaseAt(3)->kind, PhaseKind::kStageOne);
  EXPECT_EQ(schedule_.PhaseAt(5)->kind, PhaseKind::kEvaluate);
  EXPECT_EQ(schedule_.PhaseAt(6)->kind, PhaseKind::kCheckpoint);
}

TEST_F(JobRunnerTest, RunsTheOrderedPhasesAndReportsEach) {
  ScriptedDriver driver({Order(0), Order(2), Order(3), Order(4), Order(5)});
  ASSERT_TRUE(Run(driver).ok());
  EXPECT_EQ(driver.begun_at, std::vector<int64_t>{0});
  ASSERT_EQ(driver.done.size(), 5u);
  const std::vector<std::string> phases = {"pretrain", "update_stats", "stage1", "stage2",
                                           "evaluate"};
  const std::vector<int64_t> positions = {0, 2, 3, 4, 5};
  for (size_t i = 0; i < phases.size(); ++i) {
    EXPECT_EQ(driver.done[i].first, positions[i]);
    EXPECT_EQ(driver.done[i].second.phase, phases[i]);
    EXPECT_EQ(driver.done[i].second.round, schedule_.PhaseAt(positions[i])->round);
  }
  // Training phases carry their iterations, losses and all-reduce figures; others do not.
  const PhaseReport& pretrain = driver.done[0].second;
  EXPECT_EQ(pretrain.iterations, 3);
  EXPECT_GT(pretrain.losses.at("sfmx"), 0.0);
  EXPECT_EQ(pretrain.metrics.count(metric_names::kAllreduceSeconds), 1u);
  EXPECT_EQ(driver.done[1].second.metrics.count(metric_names::kAllreduceSeconds), 0u);
  EXPECT_EQ(driver.done[2].second.round, 0);
  // The evaluate phase is the trainer's training-set figures (no hold-out configured here).
  EXPECT_EQ(driver.done[4].second.metrics.count(metric_names::kTrainTop1Regular), 1u);
  // Progress reached the driver with the position of the phase it belongs to.
  EXPECT_EQ(driver.progress_positions.size(), 3u + 2 + 2);
  EXPECT_EQ(driver.progress_positions.front(), 0);
  EXPECT_EQ(driver.progress_positions.back(), 4);
  EXPECT_EQ(driver.last_progress.phase, PhaseKind::kStageTwo);
}

TEST_F(JobRunnerTest, CheckpointPhaseStoresThePositionAfterItAndPrunes) {
  const std::string dir = config_.runtime.output_dir;
  fs::remove_all(dir);
  fs::create_directories(dir);
  ScriptedDriver driver({Order(0), Order(1, CheckpointFileName(dir, 1)),
                         Order(6, CheckpointFileName(dir, 6)),
                         Order(1, CheckpointFileName(dir, 101))});
  ASSERT_TRUE(Run(driver, 0, /*keep_checkpoints=*/2).ok());
  ASSERT_EQ(driver.done.size(), 4u);
  EXPECT_EQ(driver.done[1].second.phase, "checkpoint");
  EXPECT_EQ(driver.done[1].second.checkpoint, CheckpointFileName(dir, 1));
  const std::vector<std::string> left = ListCheckpoints(dir);
  EXPECT_EQ(left,
            (std::vector<std::string>{CheckpointFileName(dir, 6), CheckpointFileName(dir, 101)}));
  Trainer resumed(config_, data_, *comm_);
  absl::StatusOr<int64_t> position = resumed.LoadCheckpoint(CheckpointFileName(dir, 6));
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ(*position, 7);
}

TEST_F(JobRunnerTest, ResumedPositionReachesTheDriver) {
  ScriptedDriver driver({});
  ASSERT_TRUE(Run(driver, 3).ok());
  EXPECT_EQ(driver.begun_at, std::vector<int64_t>{3});
  EXPECT_TRUE(driver.done.empty());
}

TEST_F(JobRunnerTest, DriverErrorStopsWithItsCodeAndMessage) {
  ScriptedDriver driver({Order(0), absl::UnavailableError("coordinator went away"), Order(2)});
  const absl::Status status = Run(driver);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(status.message(), "coordinator went away");
  EXPECT_EQ(driver.done.size(), 1u);
}

TEST_F(JobRunnerTest, FailedPhaseDoneStopsBeforeTheNextPhase) {
  ScriptedDriver driver({Order(0), Order(2)});
  driver.fail_after_phase = true;
  const absl::Status status = Run(driver);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(driver.done.size(), 1u);
}

TEST_F(JobRunnerTest, OrderPastTheScheduleIsOutOfRange) {
  ScriptedDriver driver({Order(7)});
  EXPECT_EQ(Run(driver).code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(driver.done.empty());
}

TEST(LocalScheduleDriverTest, OrdersEveryPhaseFromTheResumedOneWithCheckpointNames) {
  LocalScheduleDriver driver(4, "/out");
  driver.Begin(2);
  absl::StatusOr<std::optional<PhaseOrder>> a = driver.NextPhase();
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->position, 2);
  EXPECT_EQ((*a)->checkpoint_path, CheckpointFileName("/out", 2));
  EXPECT_EQ((*driver.NextPhase())->position, 3);
  EXPECT_FALSE(driver.NextPhase()->has_value());
}

}  // namespace
}  // namespace ftl
