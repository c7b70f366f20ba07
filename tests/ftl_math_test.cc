// Each formula of Sec. 3 against a naive per-sample reference written here with loops.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "common/ftl/class_stats.h"
#include "common/ftl/losses.h"
#include "common/ftl/transfer.h"

namespace ftl {
namespace {

using torch::indexing::Slice;

constexpr int64_t kClasses = 4;
constexpr int64_t kDim = 5;

struct Samples {
  torch::Tensor g, g_flip, labels, yaw;
};

Samples MakeSamples(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  Samples s;
  s.labels = torch::randint(0, kClasses, {n}, torch::kInt64);
  s.labels[0] = 0;  // every class present
  s.labels[1] = 1;
  s.labels[2] = 2;
  s.labels[3] = 3;
  s.g = torch::randn({n, kDim}) + s.labels.unsqueeze(1).to(torch::kFloat32);
  s.g_flip = s.g + 0.1 * torch::randn({n, kDim});
  s.yaw = torch::randn({n}) * 30;
  return s;
}

// Eq. 5 with explicit loops.
torch::Tensor NaiveCenters(const Samples& s, double tau, bool use_yaw) {
  torch::Tensor centers = torch::zeros({kClasses, kDim}, torch::kFloat64);
  for (int64_t c = 0; c < kClasses; ++c) {
    torch::Tensor sum = torch::zeros({kDim}, torch::kFloat64);
    int64_t members = 0;
    for (int64_t k = 0; k < s.labels.size(0); ++k) {
      if (s.labels[k].item<int64_t>() != c) continue;
      const double p = s.yaw[k].item<double>();
      if (use_yaw && std::abs(p) + std::abs(-p) > tau) continue;
      sum += s.g[k].to(torch::kFloat64) + s.g_flip[k].to(torch::kFloat64);
      ++members;
    }
    if (members == 0) {  // documented fallback: all samples of the class
      for (int64_t k = 0; k < s.labels.size(0); ++k) {
        if (s.labels[k].item<int64_t>() != c) continue;
        sum += s.g[k].to(torch::kFloat64) + s.g_flip[k].to(torch::kFloat64);
        ++members;
      }
    }
    if (members > 0) centers[c] = sum / (2.0 * members);
  }
  return centers;
}

ClassCenters CentersOf(const Samples& s, const torch::Tensor& passes) {
  CenterAccumulator acc(kClasses, kDim);
  acc.Add(s.g, s.g_flip, s.labels, passes);
  return FinishCenters(acc);
}

TEST(ClassCentersTest, FlipAveragedMeanWithoutYaw) {
  const Samples s = MakeSamples(40, 1);
  const ClassCenters centers = CentersOf(s, torch::Tensor());
  EXPECT_TRUE(
      torch::allclose(centers.centers.to(torch::kFloat64), NaiveCenters(s, 0, false), 1e-5, 1e-6));
  EXPECT_EQ(centers.yaw_fallback_classes, 0);
}

TEST(ClassCentersTest, YawFilterLeavesOutExtremePoses) {
  const Samples s = MakeSamples(60, 2);
  const double tau = 40.0;
  const torch::Tensor passes = s.yaw.abs() * 2 <= tau;
  const ClassCenters centers = CentersOf(s, passes);
  EXPECT_TRUE(
      torch::allclose(centers.centers.to(torch::kFloat64), NaiveCenters(s, tau, true), 1e-5, 1e-6));
  // The filter must matter for this data, or the test proves nothing.
  EXPECT_FALSE(
      torch::allclose(centers.centers.to(torch::kFloat64), NaiveCenters(s, 0, false), 1e-3, 1e-3));
}

TEST(ClassCentersTest, ClassWithNoPassingSampleFallsBackToAllSamples) {
  Samples s = MakeSamples(30, 3);
  s.yaw.masked_fill_(s.labels == 2, 80.0);  // class 2: every sample too far from frontal
  const torch::Tensor passes = s.yaw.abs() * 2 <= 60.0;
  const ClassCenters centers = CentersOf(s, passes);
  EXPECT_EQ(centers.yaw_fallback_classes, 1);
  EXPECT_TRUE(torch::allclose(centers.centers.to(torch::kFloat64), NaiveCenters(s, 60.0, true),
                              1e-5, 1e-6));
}

TEST(ClassCentersTest, AccumulatingInPartsEqualsOnePass) {
  const Samples s = MakeSamples(50, 4);
  CenterAccumulator whole(kClasses, kDim), a(kClasses, kDim), b(kClasses, kDim);
  whole.Add(s.g, s.g_flip, s.labels, torch::Tensor());
  a.Add(s.g.slice(0, 0, 20), s.g_flip.slice(0, 0, 20), s.labels.slice(0, 0, 20), torch::Tensor());
  b.Add(s.g.slice(0, 20), s.g_flip.slice(0, 20), s.labels.slice(0, 20), torch::Tensor());
  std::vector<torch::Tensor> ta = a.tensors(), tb = b.tensors();
  for (size_t i = 0; i < ta.size(); ++i) ta[i].add_(tb[i]);  // what an all-reduce does
  EXPECT_TRUE(torch::allclose(FinishCenters(a).centers, FinishCenters(whole).centers, 1e-6, 1e-7));
}

// Eq. 6, d_i and h with loops, over regular classes {0, 1}.
struct NaiveSpread {
  torch::Tensor v, d, hard;
};

NaiveSpread Naive(const Samples& s, const torch::Tensor& centers, const torch::Tensor& regular) {
  NaiveSpread out{torch::zeros({kDim, kDim}, torch::kFloat64),
                  torch::zeros({kClasses}, torch::kFloat64),
                  torch::zeros({s.labels.size(0)}, torch::kBool)};
  for (int64_t c = 0; c < kClasses; ++c) {
    if (!regular[c].item<bool>()) continue;
    double total = 0;
    int64_t m = 0;
    for (int64_t k = 0; k < s.labels.size(0); ++k) {
      if (s.labels[k].item<int64_t>() != c) continue;
      const torch::Tensor diff = (s.g[k] - centers[c]).to(torch::kFloat64);
      for (int64_t i = 0; i < kDim; ++i) {
        for (int64_t j = 0; j < kDim; ++j) {
          out.v[i][j] += diff[i].item<double>() * diff[j].item<double>();
        }
      }
      total += diff.norm().item<double>();
      ++m;
    }
    out.d[c] = total / m;
    for (int64_t k = 0; k < s.labels.size(0); ++k) {
      if (s.labels[k].item<int64_t>() != c) continue;
      out.hard[k] = (s.g[k] - centers[c]).to(torch::kFloat64).norm().item<double>() > total / m;
    }
  }
  return out;
}

TEST(SpreadTest, CovarianceDistancesAndHardListMatchLoops) {
  const Samples s = MakeSamples(80, 5);
  const torch::Tensor centers = CentersOf(s, torch::Tensor()).centers;
  const torch::Tensor regular = torch::tensor({true, true, false, false});
  SpreadAccumulator spread(kClasses, kDim);
  spread.Add(s.g, s.labels, centers, regular);
  const NaiveSpread naive = Naive(s, centers, regular);
  EXPECT_TRUE(torch::allclose(spread.covariance(), naive.v, 1e-6, 1e-6));
  EXPECT_TRUE(torch::allclose(spread.mean_distances(), naive.d, 1e-6, 1e-6));
  const torch::Tensor hard =
      HardSampleMask(s.g, s.labels, centers, spread.mean_distances(), regular);
  EXPECT_TRUE(torch::equal(hard, naive.hard));
  EXPECT_GT(hard.sum().item<int64_t>(), 0);
  // UR samples are never hard.
  EXPECT_FALSE(hard.masked_select(s.labels >= 2).any().item<bool>());
}

TEST(TransferBasisTest, OrthonormalLeadingEigenvectorsByCount) {
  torch::manual_seed(6);
  const torch::Tensor a = torch::randn({kDim, kDim}, torch::kFloat64);
  const torch::Tensor v = a.mm(a.t());
  const TransferBasis basis = ComputeTransferBasis(v, 3, 0.0);
  ASSERT_EQ(basis.q.sizes(), (std::vector<int64_t>{kDim, 3}));
  EXPECT_TRUE(torch::allclose(basis.q.t().mm(basis.q), torch::eye(3), 1e-5, 1e-5));
  // Each column is an eigenvector with the next-largest eigenvalue.
  for (int64_t j = 0; j < 3; ++j) {
    const torch::Tensor q = basis.q.select(1, j).to(torch::kFloat64);
    const double lambda = basis.eigenvalues[j].item<double>();
    EXPECT_TRUE(torch::allclose(v.mv(q), lambda * q, 1e-4, 1e-4));
    if (j > 0) {
      EXPECT_GE(basis.eigenvalues[j - 1].item<double>(), lambda);
    }
  }
}

TEST(TransferBasisTest, ByEnergyKeepsTheFewestComponentsReachingIt) {
  // Eigenvalues 50, 30, 15, 4, 1 (sum 100) in a random orthonormal frame.
  torch::manual_seed(7);
  const torch::Tensor frame =
      std::get<0>(torch::linalg_qr(torch::randn({kDim, kDim}, torch::kFloat64)));
  const torch::Tensor lambdas = torch::tensor({50.0, 30.0, 15.0, 4.0, 1.0}, torch::kFloat64);
  const torch::Tensor v = frame.mm(torch::diag(lambdas)).mm(frame.t());
  const TransferBasis b95 = ComputeTransferBasis(v, 0, 0.95);
  EXPECT_EQ(b95.components, 3);
  EXPECT_NEAR(b95.energy_kept, 0.95, 1e-9);
  const TransferBasis b96 = ComputeTransferBasis(v, 0, 0.96);
  EXPECT_EQ(b96.components, 4);
  EXPECT_NEAR(b96.energy_kept, 0.99, 1e-9);
  // The projection keeps exactly that share of V's energy.
  const torch::Tensor q = b95.q.to(torch::kFloat64);
  EXPECT_NEAR((q.t().mm(v).mm(q)).trace().item<double>() / v.trace().item<double>(), 0.95, 1e-6);
}

TEST(TransferTest, MatchesEquationSevenPerSample) {
  torch::manual_seed(8);
  const torch::Tensor centers = torch::randn({kClasses, kDim});
  const torch::Tensor q = std::get<0>(torch::linalg_qr(torch::randn({kDim, 2})));
  const torch::Tensor g_r = torch::randn({6, kDim});
  const torch::Tensor y_r = torch::tensor({0, 1, 0, 1, 1, 0}, torch::kInt64);
  const torch::Tensor y_u = torch::tensor({2, 3, 3, 2, 2, 3}, torch::kInt64);
  const torch::Tensor out = TransferFeatures(g_r, y_r, y_u, centers, q);
  for (int64_t k = 0; k < 6; ++k) {
    const torch::Tensor expected =
        centers[y_u[k].item<int64_t>()] + q.mm(q.t()).mv(g_r[k] - centers[y_r[k].item<int64_t>()]);
    EXPECT_TRUE(torch::allclose(out[k], expected, 1e-5, 1e-6)) << "sample " << k;
  }
  // With the full basis the transfer keeps the whole offset: g~ - c_u == g_r - c_r.
  const torch::Tensor full = torch::eye(kDim);
  const torch::Tensor kept = TransferFeatures(g_r, y_r, y_u, centers, full);
  EXPECT_TRUE(torch::allclose(kept - centers.index_select(0, y_u),
                              g_r - centers.index_select(0, y_r), 1e-5, 1e-6));
}

// The stage-1 controls' draws: a pure function of (seed, tag, step), standard normal, and
// different for every argument.
TEST(TransferControlsTest, PortableNormalsAreReproducibleStandardNormalDraws) {
  const torch::Tensor z = PortableNormals(11, kCenterNoiseTag, 3, 400, 50);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{400, 50}));
  EXPECT_TRUE(torch::equal(z, PortableNormals(11, kCenterNoiseTag, 3, 400, 50)));
  for (const torch::Tensor& other : {PortableNormals(12, kCenterNoiseTag, 3, 400, 50),
                                     PortableNormals(11, kRandomBasisTag, 3, 400, 50),
                                     PortableNormals(11, kCenterNoiseTag, 4, 400, 50)}) {
    EXPECT_FALSE(torch::allclose(z, other));
  }
  // 20,000 draws: mean 0 and variance 1 within 5 standard errors; the tails as N(0, 1)'s.
  const torch::Tensor d = z.to(torch::kFloat64).flatten();
  EXPECT_NEAR(d.mean().item<double>(), 0.0, 5.0 / std::sqrt(20000.0));
  EXPECT_NEAR(d.var().item<double>(), 1.0, 5.0 * std::sqrt(2.0 / 20000.0));
  const double beyond_two = (d.abs() > 2.0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(beyond_two, 0.0455, 0.008);
  // Odd counts fill every element (Box-Muller yields pairs).
  EXPECT_TRUE(PortableNormals(1, kCenterNoiseTag, 0, 3, 3).isfinite().all().item<bool>());
  EXPECT_NE(PortableNormals(1, kCenterNoiseTag, 0, 3, 3)[2][2].item<float>(), 0.0f);
}

TEST(TransferControlsTest, RandomBasisIsOrthonormalAndDrawnPerStep) {
  const torch::Tensor p = RandomOrthonormalBasis(5, 0, kDim, 3);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{kDim, 3}));
  EXPECT_EQ(p.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::allclose(p.t().mm(p), torch::eye(3), 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(p, RandomOrthonormalBasis(5, 0, kDim, 3)));
  // A different step spans a different subspace: its projector differs.
  const torch::Tensor p1 = RandomOrthonormalBasis(5, 1, kDim, 3);
  EXPECT_FALSE(torch::allclose(p.mm(p.t()), p1.mm(p1.t()), 1e-3, 1e-3));
}

// "center" is c[y_u]; "center_noise" is c[y_u] + Q diag(sqrt(lambda)) z, checked per sample and,
// over many draws, for the covariance it is meant to have: Q diag(lambda_1..k) Q^T.
TEST(TransferControlsTest, CentersAndCenterNoiseMatchTheirDefinitions) {
  torch::manual_seed(9);
  const torch::Tensor centers = torch::randn({kClasses, kDim});
  const torch::Tensor q = std::get<0>(torch::linalg_qr(torch::randn({kDim, 2})));
  const torch::Tensor lambdas = torch::tensor({4.0, 1.0, 0.5, -1e-9}, torch::kFloat64);
  const torch::Tensor y_u = torch::tensor({2, 3, 3, 2}, torch::kInt64);
  const torch::Tensor c = CenterFeatures(y_u, centers);
  const torch::Tensor z = torch::randn({4, 2});
  const torch::Tensor noisy = CenterNoiseFeatures(y_u, centers, q, lambdas, z);
  for (int64_t k = 0; k < 4; ++k) {
    const torch::Tensor center = centers[y_u[k].item<int64_t>()];
    EXPECT_TRUE(torch::equal(c[k], center));
    const torch::Tensor expected = center + q.select(1, 0) * (2.0 * z[k][0].item<double>()) +
                                   q.select(1, 1) * (1.0 * z[k][1].item<double>());
    EXPECT_TRUE(torch::allclose(noisy[k], expected, 1e-5, 1e-6)) << "sample " << k;
  }
  const int64_t n = 20000;
  const torch::Tensor labels = torch::full({n}, 2, torch::kInt64);
  const torch::Tensor offsets = (CenterNoiseFeatures(labels, centers, q, lambdas,
                                                     PortableNormals(3, kCenterNoiseTag, 0, n, 2)) -
                                 centers[2])
                                    .to(torch::kFloat64);
  const torch::Tensor covariance = offsets.t().mm(offsets) / n;
  const torch::Tensor expected =
      q.to(torch::kFloat64).mm(torch::diag(lambdas.slice(0, 0, 2))).mm(q.t().to(torch::kFloat64));
  EXPECT_TRUE(torch::allclose(covariance, expected, 0.0, 0.15))
      << (covariance - expected).abs().max().item<double>();
}

TEST(LossTest, SoftmaxMatchesLoopAndItsGradient) {
  torch::manual_seed(9);
  const torch::Tensor logits = torch::randn({3, 4}, torch::requires_grad());
  const torch::Tensor y = torch::tensor({1, 0, 3}, torch::kInt64);
  const torch::Tensor loss = SoftmaxLoss(logits, y);
  double expected = 0;
  for (int64_t i = 0; i < 3; ++i) {
    double z = 0;
    for (int64_t j = 0; j < 4; ++j) z += std::exp(logits[i][j].item<double>());
    expected += -std::log(std::exp(logits[i][y[i].item<int64_t>()].item<double>()) / z);
  }
  EXPECT_NEAR(loss.item<double>(), expected / 3, 1e-6);
  loss.backward();
  // d/dz = (softmax(z) - onehot(y)) / B
  const torch::Tensor expected_grad =
      (torch::softmax(logits.detach(), 1) - torch::one_hot(y, 4).to(torch::kFloat32)) / 3;
  EXPECT_TRUE(torch::allclose(logits.grad(), expected_grad, 1e-5, 1e-6));
}

TEST(LossTest, MetricL2IsSquaredLogitNormAndGradientIsTwoWTWf) {
  torch::manual_seed(10);
  const torch::Tensor w = torch::randn({4, kDim});
  const torch::Tensor f = torch::randn({2, kDim}, torch::requires_grad());
  const torch::Tensor logits = f.mm(w.t());
  const torch::Tensor loss = MetricL2Loss(logits, Reduction::kSum);
  double expected = 0;
  for (int64_t i = 0; i < 2; ++i) {
    for (int64_t c = 0; c < 4; ++c) {
      double dot = 0;
      for (int64_t d = 0; d < kDim; ++d) dot += w[c][d].item<double>() * f[i][d].item<double>();
      expected += dot * dot;
    }
  }
  EXPECT_NEAR(loss.item<double>(), expected / 2, 1e-4);
  loss.backward();
  // d/df ||W f||^2 / B = 2 W^T W f / B
  EXPECT_TRUE(torch::allclose(f.grad(), 2 * f.detach().mm(w.t().mm(w).t()) / 2, 1e-4, 1e-5));
}

// The default reduction is the mean over batch x classes: the summed value over N_c, checked by a
// loop (a mutation back to the sum would be N_c = 5 times too large here), with its gradient.
TEST(LossTest, MetricL2MeanIsTheMeanSquaredLogit) {
  torch::manual_seed(12);
  const torch::Tensor logits = torch::randn({3, 5}, torch::requires_grad());
  const torch::Tensor loss = MetricL2Loss(logits);
  double expected = 0;
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t c = 0; c < 5; ++c) expected += std::pow(logits[i][c].item<double>(), 2);
  }
  EXPECT_NEAR(loss.item<double>(), expected / 15, 1e-6);
  EXPECT_NEAR(MetricL2Loss(logits, Reduction::kSum).item<double>(), expected / 3, 1e-5);
  loss.backward();
  EXPECT_TRUE(torch::allclose(logits.grad(), 2 * logits.detach() / 15, 1e-5, 1e-7));
}

// Why the mean: with free logits and a = 0.25 summed over N_c classes, gradient descent on
// CE + a * sum_j z_j^2 settles where z_j = (1[j = y] - p_j) / (2a), which caps p_y far below 1 for
// many classes; the per-logit strength of the mean is a / N_c, independent of the sum's cap.
TEST(LossTest, SummedMetricL2CapsTheTargetProbabilityAsDerived) {
  for (const int classes : {10, 100}) {
    const torch::Tensor z = torch::zeros({1, classes}, torch::requires_grad());
    const torch::Tensor y = torch::tensor({0}, torch::kInt64);
    torch::optim::SGD sgd({z}, torch::optim::SGDOptions(0.5));
    for (int step = 0; step < 3000; ++step) {
      sgd.zero_grad();
      (SoftmaxLoss(z, y) + 0.25 * MetricL2Loss(z, Reduction::kSum)).backward();
      sgd.step();
    }
    const torch::Tensor p = torch::softmax(z.detach(), 1);
    // The stationary point of the derivation: z_j = 2 (1[j = y] - p_j).
    for (int64_t j = 0; j < classes; ++j) {
      EXPECT_NEAR(z[0][j].item<double>(), 2 * ((j == 0) - p[0][j].item<double>()), 1e-3) << j;
    }
    // The cap: p_y = 0.33 at 10 classes (as issue 13 computed), lower at 100.
    if (classes == 10) EXPECT_NEAR(p[0][0].item<double>(), 0.33, 0.02);
    if (classes == 100) EXPECT_LT(p[0][0].item<double>(), 0.1);
  }
}

// Logit adjustment: the softmax over z + tau * log(prior), by a loop; tau = 0 is plain softmax.
TEST(LossTest, LogitAdjustedSoftmaxMatchesLoop) {
  torch::manual_seed(13);
  const torch::Tensor logits = torch::randn({3, 4});
  const torch::Tensor y = torch::tensor({1, 0, 3}, torch::kInt64);
  const std::vector<double> prior = {0.7, 0.2, 0.05, 0.05};
  const torch::Tensor log_prior =
      torch::log(torch::tensor(prior, torch::kFloat64)).to(torch::kFloat32);
  for (const double tau : {0.0, 1.0, 1.5}) {
    double expected = 0;
    for (int64_t i = 0; i < 3; ++i) {
      double z = 0;
      for (int64_t j = 0; j < 4; ++j)
        z += std::exp(logits[i][j].item<double>() + tau * std::log(prior[j]));
      const int64_t t = y[i].item<int64_t>();
      expected += -std::log(std::exp(logits[i][t].item<double>() + tau * std::log(prior[t])) / z);
    }
    EXPECT_NEAR(SoftmaxLoss(logits, y, log_prior, tau).item<double>(), expected / 3, 1e-5) << tau;
  }
}

TEST(LossTest, ClassBalancedLossMatchesLoopOverEffectiveNumbers) {
  // Cui et al.: w_c = (1 - b) / (1 - b^n_c), scaled to sum to N_c; the loss is the batch mean of
  // w[y_i] * -log softmax(z_i)[y_i]. Class 3 has no image (counts as one).
  const std::vector<int64_t> counts = {100, 10, 1, 0};
  for (const double beta : {0.9, 0.999}) {
    std::vector<double> w(4);
    double sum = 0;
    for (int c = 0; c < 4; ++c) {
      const double n = std::max<int64_t>(counts[c], 1);
      w[c] = (1 - beta) / (1 - std::pow(beta, n));
      sum += w[c];
    }
    for (double& v : w) v *= 4 / sum;
    const torch::Tensor weights = ClassBalancedWeights(torch::tensor(counts), beta);
    ASSERT_EQ(weights.numel(), 4);
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(weights[c].item<double>(), w[c], 1e-5) << c;
    EXPECT_GT(weights[2].item<double>(), weights[0].item<double>());  // the rare class weighs more
    torch::manual_seed(17);
    const torch::Tensor logits = torch::randn({5, 4});
    const torch::Tensor y = torch::tensor({0, 0, 1, 2, 1}, torch::kInt64);
    double expected = 0;
    for (int64_t i = 0; i < 5; ++i) {
      double z = 0;
      for (int64_t j = 0; j < 4; ++j) z += std::exp(logits[i][j].item<double>());
      const int64_t t = y[i].item<int64_t>();
      expected += w[t] * -std::log(std::exp(logits[i][t].item<double>()) / z);
    }
    EXPECT_NEAR(SoftmaxLoss(logits, y, torch::Tensor(), 0.0, weights).item<double>(), expected / 5,
                1e-5)
        << beta;
  }
  // A batch of one class is still weighted (not divided back out by the batch's weight sum).
  const torch::Tensor weights = torch::tensor({2.0f, 0.5f});
  const torch::Tensor logits = torch::zeros({2, 2});
  const torch::Tensor y = torch::tensor({0, 0}, torch::kInt64);
  EXPECT_NEAR(SoftmaxLoss(logits, y, torch::Tensor(), 0.0, weights).item<double>(),
              2.0 * std::log(2.0), 1e-6);
}

TEST(LossTest, ReconstructionIsMeanSquaredPixelErrorOrTheLiteralSum) {
  const torch::Tensor x =
      torch::tensor({0.0, 0.5, 1.0, 0.25, 0.0, 0.0, 0.0, 0.0}).view({2, 1, 2, 2});
  const torch::Tensor r =
      torch::tensor({0.5, 0.5, 0.0, 0.25, 1.0, 0.0, 0.0, 0.5}, torch::requires_grad())
          .view({2, 1, 2, 2});
  EXPECT_NEAR(ReconstructionLoss(r, x).item<double>(), (0.25 + 1 + 1 + 0.25) / 8, 1e-7);
  // Eq. 1 literally: the sum over an image's pixels, averaged over the batch of 2.
  EXPECT_NEAR(ReconstructionLoss(r, x, Reduction::kSum).item<double>(), (1.25 + 1.25) / 2, 1e-7);
}

TEST(LossTest, CombineWeightsTermsAsEquationFour) {
  const LossWeights w{1.0, 2.0, 0.25};
  const LossTerms t = CombineLosses(w, torch::tensor(1.5), torch::tensor(0.5), torch::tensor(4.0));
  EXPECT_NEAR(t.total.item<double>(), 1.5 + 2 * 0.5 + 0.25 * 4, 1e-6);
  const LossTerms no_recon =
      CombineLosses(w, torch::tensor(1.5), torch::Tensor(), torch::tensor(4.0));
  EXPECT_NEAR(no_recon.total.item<double>(), 2.5, 1e-6);
}

}  // namespace
}  // namespace ftl
