// The margin heads against a naive reference: each logit written out with acos/cos in double
// precision, the cross-entropy as -z_y + log sum exp z, gradients by central differences.
#include "common/model/margin_head.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/model/ftl_model.h"
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

// The model's margin head: cos between normalised f and W rows, then MarginLogits.
TEST(MarginHeadTest, ModelLogitsUseNormalisedFeaturesAndWeights) {
  JobConfig config = testing::TinyJobConfig();
  const HeadConfig head = Head(HeadKind::kArcFace, 10, 1, 0.3, 0);
  torch::manual_seed(3);
  FtlModel model(config.model, 5, head);
  const torch::Tensor f = torch::randn({3, config.model.feature_dim}) * 7.0;
  const torch::Tensor y = torch::tensor({4, 0, 2}, torch::kInt64);
  const torch::Tensor w = model->classifier_weight().detach();
  const torch::Tensor logits = model->Logits(f, y).detach();
  const torch::Tensor plain = model->Logits(f).detach();
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      const double c = (f[i].dot(w[j]) / (f[i].norm() * w[j].norm())).item<double>();
      const double expected = 10 * (j == y[i].item<int64_t>() ? NaiveTarget(c, head) : c);
      EXPECT_NEAR(logits[i][j].item<double>(), expected, 1e-4) << i << "," << j;
      EXPECT_NEAR(plain[i][j].item<double>(), 10 * c, 1e-4);
    }
  }
  // The softmax head is the plain FC.
  FtlModel softmax(config.model, 5);
  EXPECT_TRUE(torch::allclose(softmax->Logits(f, y), softmax->classifier->forward(f)));
}

}  // namespace
}  // namespace ftl
