// Single-process trainer behaviour: what each phase trains, and exact resume.
#include "common/train/trainer.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace ftl {
namespace {

std::vector<torch::Tensor> Snapshot(torch::nn::Module& module) {
  std::vector<torch::Tensor> copies;
  for (const torch::Tensor& p : module.parameters()) copies.push_back(p.detach().clone());
  return copies;
}

bool BitIdentical(torch::nn::Module& module, const std::vector<torch::Tensor>& before) {
  const std::vector<torch::Tensor> now = module.parameters();
  for (size_t i = 0; i < now.size(); ++i) {
    if (!torch::equal(now[i], before[i])) return false;
  }
  return true;
}

class TrainerTest : public ::testing::Test {
 protected:
  TrainerTest()
      : config_(testing::TinyJobConfig()),
        data_(testing::SyntheticDataset({12, 10, 9, 3, 2, 2})),
        comm_(CreateLocalCommunicator()) {}

  JobConfig config_;
  Dataset data_;
  std::unique_ptr<Communicator> comm_;
};

TEST_F(TrainerTest, StageOneFreezesEncoderAndDecoderBitForBit) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(3);
  trainer.UpdateStats();
  FtlModel& m = trainer.model();
  const auto enc = Snapshot(*m->enc), dec = Snapshot(*m->dec);
  const auto filter = Snapshot(*m->filter), fc = Snapshot(*m->classifier);
  trainer.StageOne(4, 0);
  EXPECT_TRUE(BitIdentical(*m->enc, enc));
  EXPECT_TRUE(BitIdentical(*m->dec, dec));
  EXPECT_FALSE(BitIdentical(*m->filter, filter));
  EXPECT_FALSE(BitIdentical(*m->classifier, fc));
}

TEST_F(TrainerTest, StageTwoFreezesTheClassifierBitForBit) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(3);
  trainer.UpdateStats();
  trainer.StageOne(2, 0);
  FtlModel& m = trainer.model();
  const auto enc = Snapshot(*m->enc), dec = Snapshot(*m->dec);
  const auto filter = Snapshot(*m->filter), fc = Snapshot(*m->classifier);
  trainer.StageTwo(4, 0);
  EXPECT_TRUE(BitIdentical(*m->classifier, fc));
  EXPECT_FALSE(BitIdentical(*m->enc, enc));
  EXPECT_FALSE(BitIdentical(*m->dec, dec));
  EXPECT_FALSE(BitIdentical(*m->filter, filter));
}

TEST_F(TrainerTest, PretrainingTrainsEveryModule) {
  Trainer trainer(config_, data_, *comm_);
  FtlModel& m = trainer.model();
  const auto enc = Snapshot(*m->enc), dec = Snapshot(*m->dec);
  const auto filter = Snapshot(*m->filter), fc = Snapshot(*m->classifier);
  const v1::PhaseReport report = trainer.Pretrain(3);
  EXPECT_FALSE(BitIdentical(*m->enc, enc));
  EXPECT_FALSE(BitIdentical(*m->dec, dec));
  EXPECT_FALSE(BitIdentical(*m->filter, filter));
  EXPECT_FALSE(BitIdentical(*m->classifier, fc));
  EXPECT_EQ(report.images(), 3 * config_.training.batch_size);
  EXPECT_GT(report.losses().at("sfmx"), 0.0);
}

TEST_F(TrainerTest, UpdateStatsFindsHardRegularSamplesAndABasis) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(2);
  const v1::PhaseReport report = trainer.UpdateStats();
  const FtlStatistics& s = trainer.statistics();
  ASSERT_TRUE(s.valid);
  EXPECT_EQ(s.centers.sizes(), (std::vector<int64_t>{6, 8}));
  EXPECT_GT(s.basis.size(1), 0);
  const int64_t hard = s.hard_mask.sum().item<int64_t>();
  EXPECT_GT(hard, 0);
  EXPECT_EQ(report.metrics().at("hard_samples"), hard);
  // Only regular classes (0, 1, 2 have more than 5 images) contribute hard samples.
  EXPECT_FALSE(s.hard_mask.masked_select(data_.labels >= 3).any().item<bool>());
  EXPECT_GE(report.metrics().at("pca_energy_kept"), config_.training.pca_energy);
}

void ExpectSameParameters(torch::nn::Module& a, torch::nn::Module& b) {
  const auto pa = a.named_parameters();
  const auto pb = b.named_parameters();
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::allclose(item.value(), pb[item.key()], 1e-6, 1e-7)) << item.key();
  }
}

TEST_F(TrainerTest, ResumeEqualsContinuingInPretraining) {
  const std::string path = ::testing::TempDir() + "/resume_pretrain.ftlckpt";
  Trainer straight(config_, data_, *comm_);
  straight.Pretrain(6);
  {
    Trainer first_half(config_, data_, *comm_);
    first_half.Pretrain(3);
    ASSERT_TRUE(first_half.SaveCheckpoint(path, 1).ok());
  }
  Trainer resumed(config_, data_, *comm_);
  resumed.Pretrain(1);  // diverge first, so loading must really overwrite everything
  absl::StatusOr<int64_t> position = resumed.LoadCheckpoint(path);
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ(*position, 1);
  resumed.Pretrain(3);
  ExpectSameParameters(*straight.model(), *resumed.model());
}

TEST_F(TrainerTest, ResumeEqualsContinuingAcrossTheStages) {
  const std::string path = ::testing::TempDir() + "/resume_stage.ftlckpt";
  Trainer straight(config_, data_, *comm_);
  straight.Pretrain(2);
  straight.UpdateStats();
  straight.StageOne(4, 0);
  straight.StageTwo(3, 0);
  {
    Trainer first(config_, data_, *comm_);
    first.Pretrain(2);
    first.UpdateStats();
    first.StageOne(2, 0);
    ASSERT_TRUE(first.SaveCheckpoint(path, 7).ok());
  }
  Trainer resumed(config_, data_, *comm_);
  ASSERT_TRUE(resumed.LoadCheckpoint(path).ok());
  ASSERT_TRUE(resumed.statistics().valid);
  resumed.StageOne(2, 0);
  resumed.StageTwo(3, 0);
  ExpectSameParameters(*straight.model(), *resumed.model());
}

TEST_F(TrainerTest, CheckpointOfAnotherJobIsRefused) {
  const std::string path = ::testing::TempDir() + "/other_job.ftlckpt";
  Trainer trainer(config_, data_, *comm_);
  ASSERT_TRUE(trainer.SaveCheckpoint(path, 0).ok());
  const Dataset other = testing::SyntheticDataset({12, 10, 9});
  Trainer different(config_, other, *comm_);
  const absl::StatusOr<int64_t> position = different.LoadCheckpoint(path);
  ASSERT_FALSE(position.ok());
  EXPECT_EQ(position.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(position.status().message().find("another job"), std::string::npos);
}

TEST_F(TrainerTest, EvaluateReportsAccuracyAndNormRatio) {
  Trainer trainer(config_, data_, *comm_);
  trainer.Pretrain(2);
  const v1::PhaseReport report = trainer.Evaluate();
  const auto& m = report.metrics();
  ASSERT_TRUE(m.count("train_top1_regular") && m.count("train_top1_ur") &&
              m.count("ur_regular_norm_ratio"));
  EXPECT_GE(m.at("train_top1_regular"), 0.0);
  EXPECT_LE(m.at("train_top1_regular"), 1.0);
  EXPECT_NEAR(m.at("ur_regular_norm_ratio"), trainer.UrToRegularWeightNormRatio(), 1e-12);
}

}  // namespace
}  // namespace ftl
