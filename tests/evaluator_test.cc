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
  const EvaluationMetrics result =
      evaluator.Evaluate(trainer.model(), trainer.classifier(), trainer.regular_classes());
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

// A pickle as InsightFace's .bin files hold it (protocol 4 opcodes): (list of bytes, list of bool).
std::string PickleBin(const std::vector<std::string>& images, const std::vector<bool>& same) {
  std::string p("\x80\x04]("), length(4, '\0');
  for (const std::string& image : images) {
    for (int k = 0; k < 4; ++k) length[k] = static_cast<char>((image.size() >> (8 * k)) & 0xff);
    p += "B" + length + image;
  }
  p += "e](";
  for (bool s : same) p += s ? "\x88" : "\x89";
  return p + "e\x86.";
}

// evaluation.bin_sets: each image and its mirror image, g and f, 10 contiguous folds — against a
// reference computed here from the model's own encoder.
TEST_F(EvaluatorTest, BinSetsAreValidatedWithTheMirrorImage) {
  const Dataset data = testing::SyntheticDataset({12, 12}, 16);
  std::vector<std::string> encoded;
  std::vector<bool> same;
  for (int k = 0; k < 20; ++k) {  // 20 pairs: same class for even k
    const int64_t a = k % 12, b = k % 2 == 0 ? (k + 1) % 12 : 12 + k % 12;
    for (int64_t row : {a, b}) {
      const torch::Tensor image = data.images[row][0].contiguous();
      std::vector<uchar> png;
      cv::imencode(".png", cv::Mat(16, 16, CV_8UC1, image.data_ptr()), png);
      encoded.emplace_back(png.begin(), png.end());
    }
    same.push_back(k % 2 == 0);
  }
  const std::string path = ::testing::TempDir() + "/tiny.bin";
  std::ofstream(path, std::ios::binary) << PickleBin(encoded, same);
  config_.evaluation.bin_sets = {path};
  config_.training.pretrain_lr = 3e-3;
  Trainer trainer(config_, data, *comm_);
  trainer.Pretrain(20);
  Evaluator evaluator(config_, data, *comm_);
  const EvaluationMetrics result =
      evaluator.Evaluate(trainer.model(), trainer.classifier(), trainer.regular_classes());
  ASSERT_EQ(result.bin_sets.count("tiny"), 1u);
  const auto named = result.Named();
  EXPECT_EQ(named.at("bin_tiny_acc_f"), result.bin_sets.at("tiny").on_f.accuracy);
  EXPECT_TRUE(named.count("bin_tiny_acc_g") && named.count("bin_tiny_tar_far1e3_f") &&
              named.count("bin_tiny_acc_std_f"));
  // Reference: the images as PNG round trips, features by hand, folds of 2 pairs in order.
  torch::NoGradGuard no_grad;
  FtlModel& model = trainer.model();
  model->eval();
  std::vector<double> score_f, score_g;
  std::vector<int> fold;
  auto unit = [](const torch::Tensor& t) {
    const torch::Tensor d = t.to(torch::kFloat64);
    return d / d.norm(2, 1, true);
  };
  for (int k = 0; k < 20; ++k) {
    torch::Tensor e[2][2];  // [image][g, f]
    for (int i = 0; i < 2; ++i) {
      const cv::Mat m = cv::imdecode(cv::Mat(1, static_cast<int>(encoded[2 * k + i].size()),
                                             CV_8UC1, encoded[2 * k + i].data()),
                                     cv::IMREAD_GRAYSCALE);
      const torch::Tensor x =
          torch::from_blob(m.data, {1, 1, 16, 16}, torch::kUInt8).to(torch::kFloat32) / 255.0;
      const torch::Tensor g = model->enc->forward(x), g_flip = model->enc->forward(x.flip({3}));
      e[i][0] = unit(unit(g) + unit(g_flip));
      e[i][1] = unit(unit(model->filter->forward(g)) + unit(model->filter->forward(g_flip)));
    }
    score_g.push_back((e[0][0] * e[1][0]).sum().item<double>());
    score_f.push_back((e[0][1] * e[1][1]).sum().item<double>());
    fold.push_back(k / 2);
  }
  EXPECT_NEAR(result.bin_sets.at("tiny").on_f.accuracy,
              KFoldVerification(score_f, same, fold).accuracy, 1e-12);
  EXPECT_NEAR(result.bin_sets.at("tiny").on_g.accuracy,
              KFoldVerification(score_g, same, fold).accuracy, 1e-12);
  // An unreadable set is left out, not fatal.
  config_.evaluation.bin_sets = {::testing::TempDir() + "/no_such.bin"};
  Evaluator missing(config_, data, *comm_);
  EXPECT_TRUE(missing.Evaluate(trainer.model(), trainer.classifier(), trainer.regular_classes())
                  .bin_sets.empty());
}

TEST_F(EvaluatorTest, NothingConfiguredNothingReported) {
  const Dataset data = testing::SyntheticDataset({6, 2});
  Trainer trainer(config_, data, *comm_);
  Evaluator evaluator(config_, data, *comm_);
  const EvaluationMetrics result =
      evaluator.Evaluate(trainer.model(), trainer.classifier(), trainer.regular_classes());
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
  const EvaluationMetrics result =
      evaluator.Evaluate(trainer.model(), trainer.classifier(), trainer.regular_classes());
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
