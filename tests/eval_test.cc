// Evaluation metrics against small cases computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "common/eval/metrics.h"
#include "common/eval/pairs.h"

namespace ftl {
namespace {

TEST(NearestCenterRank1Test, CosineToClassMeansSplitByRegularAndUr) {
  // Class 0 centre (1, 0), class 1 centre (0, 1), class 2 centre (-1, 0); class 2 is UR.
  const torch::Tensor gallery = torch::tensor({{2.0, 0.0}, {0.0, 1.0}, {0.0, 3.0}, {-1.0, 0.0}});
  const torch::Tensor gallery_labels = torch::tensor({0, 1, 1, 2}, torch::kInt64);
  const torch::Tensor probes = torch::tensor({{5.0, 1.0},    // -> 0, correct
                                              {0.1, 1.0},    // -> 1, correct
                                              {1.0, 0.2},    // -> 0, wrong (is 1)
                                              {-3.0, 0.5},   // -> 2, correct
                                              {0.2, 2.0}});  // -> 1, wrong (is 2)
  const torch::Tensor probe_labels = torch::tensor({0, 1, 1, 2, 2}, torch::kInt64);
  const Rank1Result r = NearestCenterRank1(gallery, gallery_labels, probes, probe_labels,
                                           torch::tensor({true, true, false}));
  EXPECT_EQ(r.regular_probes, 3);
  EXPECT_EQ(r.ur_probes, 2);
  EXPECT_NEAR(r.regular, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.ur, 0.5, 1e-12);
}

TEST(NearestCenterRank1Test, ClassesWithoutGalleryAreNeverPredicted) {
  const torch::Tensor gallery = torch::tensor({{1.0, 0.0}});
  const torch::Tensor probes = torch::tensor({{0.0, 0.0}});  // zero vector: all similarities 0
  const Rank1Result r =
      NearestCenterRank1(gallery, torch::tensor({1}, torch::kInt64), probes,
                         torch::tensor({1}, torch::kInt64), torch::tensor({true, true}));
  EXPECT_EQ(r.regular, 1.0);
}

TEST(VerificationTest, PerfectlySeparableScoresGiveFullAccuracy) {
  std::vector<double> scores;
  std::vector<bool> same;
  std::vector<int> fold;
  for (int i = 0; i < 40; ++i) {
    scores.push_back(i % 2 ? 0.9 - 0.001 * i : 0.1 + 0.001 * i);
    same.push_back(i % 2);
    fold.push_back(i % 10);
  }
  const VerificationResult r = KFoldVerification(scores, same, fold);
  EXPECT_EQ(r.accuracy, 1.0);
  EXPECT_EQ(r.accuracy_std, 0.0);
  EXPECT_EQ(r.tar_at_far_1e2, 1.0);
}

TEST(VerificationTest, ThresholdComesFromTheOtherFolds) {
  // Two folds, each scored with the threshold chosen on the other (worked by hand):
  //   fold 1 trains (0.8 same, 0.7 diff, 0.5 diff): only 0.75 gets all three right. Fold 0 at
  //   0.75: 0.6 same -> wrong, 0.4 diff -> right, 0.7 diff -> right: 2/3.
  //   fold 0 trains (0.6 same, 0.4 diff, 0.7 diff): 0.5 and 0.8 both get 2/3; the lower middle
  //   (0.5) is taken. Fold 1 at 0.5: 0.8 right, 0.7 wrong, 0.5 (not above) right: 2/3.
  // A threshold chosen on the fold itself would give fold 1 3/3, so the mean would differ.
  const std::vector<double> scores = {0.6, 0.4, 0.7, 0.8, 0.7, 0.5};
  const std::vector<bool> same = {true, false, false, true, false, false};
  const std::vector<int> fold = {0, 0, 0, 1, 1, 1};
  const VerificationResult r = KFoldVerification(scores, same, fold);
  EXPECT_NEAR(r.accuracy, 2.0 / 3.0, 1e-12);
}

TEST(VerificationTest, TarAtFarCountsGenuinePairsAboveTheImpostorCut) {
  std::vector<double> scores;
  std::vector<bool> same;
  for (int i = 0; i < 100; ++i) {  // impostors 0.00 .. 0.99
    scores.push_back(i / 100.0);
    same.push_back(false);
  }
  for (double s : {0.995, 0.985, 0.5}) {  // genuine
    scores.push_back(s);
    same.push_back(true);
  }
  const VerificationResult r = KFoldVerification(scores, same, std::vector<int>(scores.size(), 0));
  // FAR 1e-2 allows 1 impostor above the threshold: threshold 0.98; genuine above: 0.995, 0.985.
  EXPECT_NEAR(r.tar_at_far_1e2, 2.0 / 3.0, 1e-12);
  // FAR 1e-3 allows none: threshold 0.99; genuine above: 0.995.
  EXPECT_NEAR(r.tar_at_far_1e3, 1.0 / 3.0, 1e-12);
}

TEST(CoverageTest, LargestConfidentPrefixKeepingPrecision) {
  // Sorted by confidence: correct, correct, wrong, correct, wrong.
  const std::vector<double> confidence = {0.9, 0.8, 0.7, 0.6, 0.5};
  const std::vector<bool> correct = {true, true, false, true, false};
  EXPECT_NEAR(CoverageAtPrecision(confidence, correct, 0.99), 2.0 / 5.0, 1e-12);
  EXPECT_NEAR(CoverageAtPrecision(confidence, correct, 0.75), 4.0 / 5.0, 1e-12);
  // A tie cannot be split by a threshold.
  EXPECT_NEAR(CoverageAtPrecision({0.9, 0.9, 0.8}, {true, false, true}, 0.99), 0.0, 1e-12);
}

TEST(PairsTest, ReadsBothViewsAndRefusesShortFiles) {
  const std::string view2 = ::testing::TempDir() + "/pairs.txt";
  std::ofstream(view2) << "2\t1\nA\t1\t2\nB\t1\tC\t3\nD\t2\t4\nE\t1\tF\t1\n";
  auto pairs = ReadPairsFile(view2);
  ASSERT_TRUE(pairs.ok()) << pairs.status();
  ASSERT_EQ(pairs->size(), 4u);
  EXPECT_TRUE((*pairs)[0].same);
  EXPECT_EQ((*pairs)[1].name2, "C");
  EXPECT_EQ((*pairs)[1].index2, 3);
  EXPECT_FALSE((*pairs)[1].same);
  EXPECT_EQ((*pairs)[2].fold, 1);
  EXPECT_EQ(LfwImagePath("/r", "A", 2), "/r/A/A_0002.jpg");
  const std::string short_file = ::testing::TempDir() + "/short_pairs.txt";
  std::ofstream(short_file) << "2\nA\t1\t2\n";
  EXPECT_EQ(ReadPairsFile(short_file).status().code(), absl::StatusCode::kDataLoss);
}

TEST(PairsTest, ReadsTheRealLfwFiles) {
  auto view2 = ReadPairsFile(FTL_DATA_ROOT "/lfw/pairs.txt");
  ASSERT_TRUE(view2.ok()) << view2.status();
  EXPECT_EQ(view2->size(), 6000u);
  EXPECT_EQ(std::count_if(view2->begin(), view2->end(), [](auto& p) { return p.same; }), 3000);
  auto dev = ReadPairsFile(FTL_DATA_ROOT "/lfw/pairsDevTest.txt");
  ASSERT_TRUE(dev.ok()) << dev.status();
  EXPECT_EQ(dev->size(), 1000u);
  EXPECT_EQ(dev->back().fold, 9);
}

// .bin sets: consecutive rows are pairs, cosine scores, 10 contiguous folds with the first
// P % 10 one pair longer (sklearn's KFold(10)) — against KFoldVerification with folds by hand.
TEST(ConsecutivePairVerificationTest, ContiguousFoldsAndCosineScores) {
  torch::manual_seed(4);
  const int pairs = 25;
  const torch::Tensor embeddings = torch::randn({2 * pairs, 6}) * 3;  // any scale
  std::vector<bool> same;
  std::vector<double> scores;
  for (int k = 0; k < pairs; ++k) {
    same.push_back(k % 3 != 0);
    const torch::Tensor a = embeddings[2 * k].to(torch::kFloat64);
    const torch::Tensor b = embeddings[2 * k + 1].to(torch::kFloat64);
    scores.push_back((a.dot(b) / (a.norm() * b.norm())).item<double>());
  }
  const std::vector<int> folds = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4,
                                  4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9};
  const VerificationResult want = KFoldVerification(scores, same, folds);
  const VerificationResult got = ConsecutivePairVerification(embeddings, same);
  EXPECT_DOUBLE_EQ(got.accuracy, want.accuracy);
  EXPECT_DOUBLE_EQ(got.accuracy_std, want.accuracy_std);
  EXPECT_DOUBLE_EQ(got.tar_at_far_1e3, want.tar_at_far_1e3);
}

}  // namespace
}  // namespace ftl
