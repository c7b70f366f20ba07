// The evaluation protocols on a trained model: verification pairs and hold-out rank-1.
#include "common/eval/evaluator.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>

#include "common/comm/communicator.h"
#include "common/eval/metric_names.h"
#include "common/train/trainer.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

class EvaluatorTest : public ::testing::Test {
 protected:
  EvaluatorTest() : config_(testing::TinyJobConfig()), comm_(CreateLocalCommunicator()) {}

  JobConfig config_;
  std::unique_ptr<Communicator> comm_;
};

// Writes dataset image `row` as <dir>/<name>/<name>_<index>.jpg (LFW's naming).
void WriteAsLfw(const Dataset& d, int64_t row, const std::string& dir, const std::string& name,
                int index) {
  std::filesystem::create_directories(dir + "/" + name);
  const torch::Tensor image = d.images[row][0].contiguous();
  cv::Mat mat(static_cast<int>(image.size(0)), static_cast<int>(image.size(1)), CV_8UC1,
              image.data_ptr());
  char file[512];
  std::snprintf(file, sizeof(file), "%s/%s/%s_%04d.jpg", dir.c_str(), name.c_str(), name.c_str(),
                index);
  ASSERT_TRUE(cv::imwrite(file, mat, {cv::IMWRITE_JPEG_QUALITY, 100}));
}

TEST_F(EvaluatorTest, RunsVerificationPairsAndHoldOutRank1) {
  // Two identities a briefly trained model tells apart: images with a vertical edge (7, regular)
  // and with a horizontal one (5, UR).
  Dataset edges;
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  for (int i = 0; i < 12; ++i) {
    torch::Tensor image = torch::zeros({1, 16, 16}, torch::kUInt8);
    image.slice(2, 0, 3 + i % 7).fill_(200);
    const bool horizontal = i >= 7;
    images.push_back(horizontal ? image.transpose(1, 2).contiguous() : image);
    labels.push_back(horizontal);
    edges.sample_names.push_back(std::to_string(i));
  }
  edges.images = torch::stack(images);
  edges.labels = torch::tensor(labels, torch::kInt64);
  edges.class_names = {"vertical", "horizontal"};
  const std::string dir = ::testing::TempDir() + "/eval_images";
  std::filesystem::remove_all(dir);
  // Same pairs: an image with itself (cosine 1); different pairs: vertical with horizontal.
  std::ofstream pairs(dir + ".pairs");
  pairs << "5\n";
  for (int i = 0; i < 5; ++i) {
    WriteAsLfw(edges, i, dir, "vertical", i + 1);
    WriteAsLfw(edges, 7 + i, dir, "horizontal", i + 1);
  }
  for (int i = 0; i < 5; ++i) pairs << "vertical\t" << i + 1 << "\t" << i + 1 << "\n";
  for (int i = 0; i < 5; ++i) pairs << "vertical\t" << i + 1 << "\thorizontal\t" << i + 1 << "\n";
  pairs.close();
  // Hold-out probes of both identities and of an unknown one (left out).
  const std::string holdout = ::testing::TempDir() + "/holdout";
  std::filesystem::remove_all(holdout);
  WriteAsLfw(edges, 6, holdout, "vertical", 1);
  WriteAsLfw(edges, 11, holdout, "horizontal", 1);
  WriteAsLfw(edges, 0, holdout, "stranger", 1);
  config_.evaluation = {dir + ".pairs", dir, holdout};
  config_.training.pretrain_lr = 3e-3;
  Trainer trainer(config_, edges, *comm_);
  trainer.Pretrain(40);
  Evaluator evaluator(config_, edges, *comm_);
  const EvaluationMetrics result = evaluator.Evaluate(trainer.model(), trainer.regular_classes());
  ASSERT_TRUE(result.verification && result.holdout);
  EXPECT_EQ(result.verification->pairs_listed, 10);
  EXPECT_EQ(result.holdout->probes, 2);  // the stranger is left out
  auto metrics = result.Named();
  metrics.merge(trainer.Evaluate().metrics);
  EXPECT_EQ(metrics.at("verif_pairs"), 10);
  EXPECT_EQ(metrics.at("verif_acc_f"), 1.0);
  EXPECT_EQ(metrics.at("verif_acc_g"), 1.0);
  EXPECT_EQ(metrics.at("train_top1_regular"), 1.0);
  EXPECT_EQ(metrics.at("holdout_rank1_regular_f"), 1.0);
  EXPECT_EQ(metrics.at("holdout_rank1_ur_f"), 1.0);
  EXPECT_TRUE(metrics.count("holdout_rank1_regular_g") && metrics.count("holdout_rank1_ur_g"));
}

TEST_F(EvaluatorTest, NothingConfiguredNothingReported) {
  const Dataset data = testing::SyntheticDataset({6, 2});
  Trainer trainer(config_, data, *comm_);
  Evaluator evaluator(config_, data, *comm_);
  const EvaluationMetrics result = evaluator.Evaluate(trainer.model(), trainer.regular_classes());
  EXPECT_FALSE(result.verification);
  EXPECT_FALSE(result.holdout);
  EXPECT_TRUE(result.Named().empty());
}

TEST_F(EvaluatorTest, UnreadableSourcesAreLeftOutNotFatal) {
  const Dataset data = testing::SyntheticDataset({6, 2});
  config_.evaluation.pairs_path = ::testing::TempDir() + "/no_such.pairs";
  config_.evaluation.holdout_path = ::testing::TempDir() + "/no_such_holdout";
  Trainer trainer(config_, data, *comm_);
  Evaluator evaluator(config_, data, *comm_);
  const EvaluationMetrics result = evaluator.Evaluate(trainer.model(), trainer.regular_classes());
  EXPECT_FALSE(result.verification);
  EXPECT_FALSE(result.holdout);
}

TEST(EvaluationMetricsTest, NamesEachFigureOnce) {
  EvaluationMetrics m;
  m.verification = VerificationMetrics{};
  m.verification->on_f.accuracy = 0.9;
  m.verification->on_g.accuracy = 0.8;
  m.verification->on_f.tar_at_far_1e2 = 0.7;
  m.verification->pairs_used = 12;
  m.holdout = HoldoutMetrics{};
  m.holdout->rank1_ur_f = 0.25;
  m.holdout->rank1_regular_g = 0.5;
  const auto named = m.Named();
  EXPECT_EQ(named.at(metric_names::kVerifAccF), 0.9);
  EXPECT_EQ(named.at(metric_names::kVerifAccG), 0.8);
  EXPECT_EQ(named.at(metric_names::kVerifTarFar1e2F), 0.7);
  EXPECT_EQ(named.at(metric_names::kVerifPairs), 12);
  EXPECT_EQ(named.at(metric_names::kHoldoutRank1UrF), 0.25);
  EXPECT_EQ(named.at(metric_names::kHoldoutRank1RegularG), 0.5);
  // Figures that were not measured are absent, not zero.
  EXPECT_EQ(named.count(metric_names::kHoldoutRank1UrG), 0u);
  EXPECT_EQ(named.count(metric_names::kHoldoutCoverageP99Ur), 0u);
}

}  // namespace
}  // namespace ftl
