// The margin heads against a naive reference: each logit written out with acos/cos in double
// precision, the cross-entropy as -z_y + log sum exp z, gradients by central differences.
#include "common/classifier/margin_head.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/classifier/replicated_classifier.h"
#include "common/ftl/losses.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

// The target logit before scaling, from the angle: theta = acos(c).
double NaiveTarget(double c, const HeadConfig& h) {
  const double theta = std::acos(c);
  if (h.m1 == 1.0 && h.m3 == 0.0) {
    if (h.easy_margin) return c > 0 ? std::cos(theta + h.m2) : c;
    // theta + m2 past pi would make cos(theta + m2) rise again: arcface_torch's linear fallback.
    return theta + h.m2 < M_PI ? std::cos(theta + h.m2) : c - h.m2 * std::sin(M_PI - h.m2);
  }
  return std::cos(h.m1 * theta + h.m2) - h.m3;
}

// Mean cross-entropy of the margined, scaled cosines, one row at a time.
double NaiveLoss(const std::vector<std::vector<double>>& cosine, const std::vector<int64_t>& y,
                 const HeadConfig& h) {
  double total = 0;
  for (size_t i = 0; i < cosine.size(); ++i) {
    double sum = 0, target = 0;
    for (size_t j = 0; j < cosine[i].size(); ++j) {
      const double z =
          h.scale * (static_cast<int64_t>(j) == y[i] ? NaiveTarget(cosine[i][j], h) : cosine[i][j]);
      sum += std::exp(z);
      if (static_cast<int64_t>(j) == y[i]) target = z;
    }
    total += std::log(sum) - target;
  }
  return total / static_cast<double>(cosine.size());
}

std::vector<std::vector<double>> ToRows(const torch::Tensor& t) {
  std::vector<std::vector<double>> rows(t.size(0), std::vector<double>(t.size(1)));
  for (int64_t i = 0; i < t.size(0); ++i) {
    for (int64_t j = 0; j < t.size(1); ++j) rows[i][j] = t[i][j].item<double>();
  }
  return rows;
}

HeadConfig Head(HeadKind kind, double s, double m1, double m2, double m3, bool easy = false) {
  HeadConfig h;
  h.kind = kind;
  h.scale = s;
  h.m1 = m1;
  h.m2 = m2;
  h.m3 = m3;
  h.easy_margin = easy;
  return h;
}

// Rows chosen so that the targets cover every branch: theta + m2 below and above pi (cos -0.95
// with m2 = 0.5), cos(theta) positive and negative (easy margin).
torch::Tensor Cosines() {
  return torch::tensor({{0.80, -0.10, 0.30, 0.05},
                        {-0.20, 0.60, -0.95, 0.10},
                        {0.15, 0.25, -0.40, 0.70},
                        {-0.60, 0.05, 0.20, -0.30}},
                       torch::kFloat64);
}
const std::vector<int64_t> kLabels = {0, 2, 2, 0};

class MarginHeadTest : public ::testing::TestWithParam<HeadConfig> {};

TEST_P(MarginHeadTest, LossAndGradientsEqualTheNaiveReference) {
  const HeadConfig head = GetParam();
  const torch::Tensor cosine = Cosines().requires_grad_(true);
  const torch::Tensor labels = torch::tensor(kLabels, torch::kInt64);
  const torch::Tensor loss =
      torch::nn::functional::cross_entropy(MarginLogits(cosine, labels, head), labels);
  const auto rows = ToRows(cosine.detach());
  EXPECT_NEAR(loss.item<double>(), NaiveLoss(rows, kLabels, head), 1e-9);
  loss.backward();
  const double h = 1e-6;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = 0; j < rows[i].size(); ++j) {
      auto up = rows, down = rows;
      up[i][j] += h;
      down[i][j] -= h;
      const double numeric =
          (NaiveLoss(up, kLabels, head) - NaiveLoss(down, kLabels, head)) / (2 * h);
      EXPECT_NEAR(cosine.grad()[i][j].item<double>(), numeric, 1e-5)
          << "d loss / d cos[" << i << "][" << j << "]";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Heads, MarginHeadTest,
                         ::testing::Values(Head(HeadKind::kCosFace, 64, 1, 0, 0.4),
                                           Head(HeadKind::kArcFace, 64, 1, 0.5, 0),
                                           Head(HeadKind::kArcFace, 30, 1, 0.5, 0, /*easy=*/true),
                                           Head(HeadKind::kCombined, 32, 1.2, 0.3, 0.15),
                                           Head(HeadKind::kCombined, 16, 1, 0.2, 0.1)));

// The branches themselves, at values worked by hand (s = 1).
TEST(MarginHeadTest, ArcFaceBranchesAtHandWorkedValues) {
  const torch::Tensor labels = torch::tensor({0}, torch::kInt64);
  auto target = [&](double c, bool easy) {
    const HeadConfig h = Head(HeadKind::kArcFace, 1, 1, 0.5, 0, easy);
    return MarginLogits(torch::tensor({{c, 0.0}}, torch::kFloat64), labels, h)[0][0].item<double>();
  };
  // cos(acos(0.6) + 0.5) = 0.6 cos 0.5 - 0.8 sin 0.5.
  EXPECT_NEAR(target(0.6, false), 0.6 * std::cos(0.5) - 0.8 * std::sin(0.5), 1e-12);
  // Past pi - 0.5 (cos < -0.8776): the linear fallback.
  EXPECT_NEAR(target(-0.95, false), -0.95 - 0.5 * std::sin(M_PI - 0.5), 1e-12);
  // Easy margin keeps a negative cosine as it is.
  EXPECT_NEAR(target(-0.3, true), -0.3, 1e-12);
  EXPECT_NEAR(target(0.3, true), 0.3 * std::cos(0.5) - std::sqrt(0.91) * std::sin(0.5), 1e-12);
  // Without labels (inference) no margin, only the scale.
  const HeadConfig s4 = Head(HeadKind::kCosFace, 4, 1, 0, 0.4);
  EXPECT_TRUE(torch::allclose(MarginLogits(torch::tensor({{0.5, -0.25}}), torch::Tensor(), s4),
                              torch::tensor({{2.0, -1.0}})));
}

// The classifier's margin head: cos between normalised f and W rows, then MarginLogits.
TEST(MarginHeadTest, ClassifierLogitsUseNormalisedFeaturesAndWeights) {
  JobConfig config = testing::TinyJobConfig();
  LossWeights loss;
  loss.head = Head(HeadKind::kArcFace, 10, 1, 0.3, 0);
  torch::manual_seed(3);
  ReplicatedClassifier classifier(config.model.feature_dim, 5, loss);
  const torch::Tensor f = torch::randn({3, config.model.feature_dim}) * 7.0;
  const torch::Tensor y = torch::tensor({4, 0, 2}, torch::kInt64);
  const torch::Tensor w = classifier.weight().detach();
  const torch::Tensor logits = classifier.Logits(f, y).detach();
  const torch::Tensor plain = classifier.Logits(f).detach();
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      const double c = (f[i].dot(w[j]) / (f[i].norm() * w[j].norm())).item<double>();
      const double expected = 10 * (j == y[i].item<int64_t>() ? NaiveTarget(c, loss.head) : c);
      EXPECT_NEAR(logits[i][j].item<double>(), expected, 1e-4) << i << "," << j;
      EXPECT_NEAR(plain[i][j].item<double>(), 10 * c, 1e-4);
    }
  }
  // The loss terms: cross-entropy of the margin logits, no m-L2 under a margin head.
  const ClassificationTerms terms = classifier.Losses(f, y);
  EXPECT_NEAR(terms.sfmx.item<double>(),
              torch::nn::functional::cross_entropy(logits, y).item<double>(), 1e-5);
  EXPECT_FALSE(terms.reg.defined());
  // Predictions: no margin; the largest softmax probability of s cos and its class.
  const ClassPrediction predicted = classifier.Predict(f);
  const auto [p, label] = torch::softmax(plain, 1).max(1);
  EXPECT_TRUE(torch::equal(predicted.label, label));
  EXPECT_TRUE(torch::allclose(predicted.probability, p, 1e-5, 1e-6));
  // The softmax head is the plain FC, with m-L2 on its logits.
  ReplicatedClassifier softmax(config.model.feature_dim, 5, LossWeights());
  const torch::Tensor wf = torch::mm(f, softmax.weight().t());
  EXPECT_TRUE(torch::allclose(softmax.Logits(f, y), wf));
  EXPECT_NEAR(softmax.Losses(f, y).reg.item<double>(), wf.pow(2).mean().item<double>(), 1e-4);
}

// Weight norms, trainability and the checkpoint entries of the replicated classifier.
TEST(ReplicatedClassifierTest, NormsTrainabilityAndCheckpointEntries) {
  torch::manual_seed(5);
  ReplicatedClassifier classifier(4, 3, LossWeights());
  const torch::Tensor w = classifier.weight().detach();
  for (int64_t c = 0; c < 3; ++c) {
    double sum = 0;
    for (int64_t d = 0; d < 4; ++d) sum += std::pow(w[c][d].item<double>(), 2);
    EXPECT_NEAR(classifier.WeightNorms()[c].item<double>(), std::sqrt(sum), 1e-6);
  }
  EXPECT_EQ(classifier.num_classes(), 3);
  EXPECT_TRUE(classifier.averages_gradients());
  classifier.SetTrainable(false);
  EXPECT_FALSE(classifier.weight().requires_grad());
  classifier.SetTrainable(true);
  EXPECT_TRUE(classifier.weight().requires_grad());
  const auto entries = classifier.CheckpointTensors();
  ASSERT_EQ(entries.size(), 1u);
  ASSERT_EQ(entries.count("classifier.weight"), 1u);
  EXPECT_EQ(classifier.named_parameters().keys(), std::vector<std::string>{"classifier.weight"});

  ReplicatedClassifier other(4, 3, LossWeights());
  ASSERT_FALSE(torch::equal(other.weight(), classifier.weight()));
  ASSERT_TRUE(other.LoadCheckpointTensors(entries, "test").ok());
  EXPECT_TRUE(torch::equal(other.weight(), classifier.weight()));
  // Another class count, or an entry it does not have, is refused and leaves it unchanged.
  ReplicatedClassifier wider(4, 5, LossWeights());
  const torch::Tensor before = wider.weight().detach().clone();
  EXPECT_FALSE(wider.LoadCheckpointTensors(entries, "test").ok());
  auto extra = entries;
  extra["classifier.bias"] = torch::zeros({3});
  const torch::Tensor other_before = other.weight().detach().clone();
  ReplicatedClassifier third(4, 3, LossWeights());
  ASSERT_TRUE(other.LoadCheckpointTensors(third.CheckpointTensors(), "test").ok());
  ASSERT_FALSE(torch::equal(other.weight(), other_before));
  ASSERT_TRUE(other.LoadCheckpointTensors(entries, "test").ok());
  EXPECT_FALSE(other.LoadCheckpointTensors(extra, "test").ok());
  EXPECT_TRUE(torch::equal(other.weight(), classifier.weight()));
  EXPECT_TRUE(torch::equal(wider.weight(), before));
}

// Logit adjustment and the class-balanced weights are the classifier's: its softmax loss equals
// the loss function given the log prior and the weights of the same counts.
TEST(ReplicatedClassifierTest, LogitAdjustmentAndClassBalancedWeightsFromTheCounts) {
  LossWeights loss;
  loss.logit_adjust_tau = 0.7;
  loss.class_balanced_beta = 0.9;
  const torch::Tensor counts = torch::tensor({10, 2, 0}, torch::kInt64);
  torch::manual_seed(6);
  ReplicatedClassifier classifier(4, 3, loss, counts);
  const torch::Tensor f = torch::randn({5, 4});
  const torch::Tensor y = torch::tensor({0, 1, 2, 1, 0}, torch::kInt64);
  // log shares with a class of no images counted as one: 10/13, 2/13, 1/13.
  const torch::Tensor log_prior = torch::log(torch::tensor({10.0f, 2.0f, 1.0f}) / 13.0f);
  const torch::Tensor logits = torch::mm(f, classifier.weight().t());
  const double want =
      SoftmaxLoss(logits, y, log_prior, 0.7, ClassBalancedWeights(counts, 0.9)).item<double>();
  EXPECT_NEAR(classifier.Losses(f, y).sfmx.item<double>(), want, 1e-5);
  EXPECT_GT(std::abs(want - SoftmaxLoss(logits, y).item<double>()), 1e-3);
  // Either setting without the counts is a programming error, caught at construction.
  EXPECT_THROW(ReplicatedClassifier(4, 3, loss), c10::Error);
}

}  // namespace
}  // namespace ftl
