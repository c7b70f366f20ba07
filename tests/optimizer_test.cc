// Optimizers and learning-rate schedules: schedule values at chosen steps, SGD with momentum,
// Nesterov and weight decay against the update written out, clipping.
#include "common/optim/optimizer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace ftl {
namespace {

OptimizerConfig Schedule(LrSchedule schedule, int64_t warmup) {
  OptimizerConfig c;
  c.schedule = schedule;
  c.warmup_iterations = warmup;
  return c;
}

TEST(ScheduleTest, ValuesAtChosenSteps) {
  // lr 0.1, 110 steps, 10 of warm-up: step t < 10 runs at 0.1 (t + 1) / 10; then p = (t - 10) /
  // 100.
  for (LrSchedule s : {LrSchedule::kConstant, LrSchedule::kPoly, LrSchedule::kCosine}) {
    const OptimizerConfig c = Schedule(s, 10);
    EXPECT_DOUBLE_EQ(ScheduledLearningRate(c, 0.1, 0, 110), 0.01);
    EXPECT_DOUBLE_EQ(ScheduledLearningRate(c, 0.1, 4, 110), 0.05);
    EXPECT_DOUBLE_EQ(ScheduledLearningRate(c, 0.1, 9, 110), 0.1);
    EXPECT_DOUBLE_EQ(ScheduledLearningRate(c, 0.1, 10, 110), 0.1);  // p = 0
  }
  const OptimizerConfig poly = Schedule(LrSchedule::kPoly, 10);
  EXPECT_NEAR(ScheduledLearningRate(poly, 0.1, 60, 110), 0.1 * 0.25, 1e-15);   // (1 - 0.5)^2
  EXPECT_NEAR(ScheduledLearningRate(poly, 0.1, 109, 110), 0.1 * 1e-4, 1e-15);  // (1 - 0.99)^2
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(poly, 0.1, 500, 110), 0.0);           // past the end
  OptimizerConfig cubic = poly;
  cubic.poly_power = 3;
  EXPECT_NEAR(ScheduledLearningRate(cubic, 0.1, 60, 110), 0.1 * 0.125, 1e-15);
  const OptimizerConfig cosine = Schedule(LrSchedule::kCosine, 10);
  EXPECT_NEAR(ScheduledLearningRate(cosine, 0.1, 60, 110), 0.05, 1e-15);
  EXPECT_NEAR(ScheduledLearningRate(cosine, 0.1, 35, 110), 0.1 * 0.5 * (1 + std::cos(M_PI / 4)),
              1e-15);
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(Schedule(LrSchedule::kConstant, 0), 0.1, 500, 110), 0.1);
  // No warm-up: poly starts at the full rate.
  EXPECT_DOUBLE_EQ(ScheduledLearningRate(Schedule(LrSchedule::kPoly, 0), 0.1, 0, 100), 0.1);
}

// Three SGD steps on f(p) = sum(a * p^2) written out as torch.optim.SGD defines them:
// d = grad + wd p; buf = d (first step) or momentum buf + d; step = d + momentum buf (Nesterov)
// or buf; p -= lr step. The rate changes between steps through SetLearningRate.
TEST(OptimizerTest, SgdWithMomentumNesterovAndWeightDecayEqualsTheUpdateWrittenOut) {
  for (bool nesterov : {false, true}) {
    OptimizerConfig c;
    c.kind = OptimizerKind::kSgd;
    c.momentum = 0.9;
    c.nesterov = nesterov;
    c.weight_decay = 0.01;
    const torch::Tensor a = torch::tensor({1.0, -2.0, 0.5}, torch::kFloat64);
    torch::Tensor p = torch::tensor({0.3, 0.7, -1.1}, torch::kFloat64).requires_grad_(true);
    auto optimizer = MakeOptimizer({p}, c, 0.1);
    std::vector<double> expected = {0.3, 0.7, -1.1}, buf(3, 0.0);
    const double rates[] = {0.1, 0.05, 0.02};
    for (int step = 0; step < 3; ++step) {
      SetLearningRate(*optimizer, rates[step]);
      optimizer->zero_grad();
      (a * p * p).sum().backward();
      optimizer->step();
      for (int i = 0; i < 3; ++i) {
        const double d = 2 * a[i].item<double>() * expected[i] + 0.01 * expected[i];
        buf[i] = step == 0 ? d : 0.9 * buf[i] + d;
        expected[i] -= rates[step] * (nesterov ? d + 0.9 * buf[i] : buf[i]);
      }
    }
    for (int i = 0; i < 3; ++i) {
      EXPECT_NEAR(p[i].item<double>(), expected[i], 1e-12) << "nesterov " << nesterov;
    }
  }
}

TEST(OptimizerTest, AdamIsTheDefaultAndTakesWeightDecay) {
  OptimizerConfig c;
  c.weight_decay = 0.5;
  torch::Tensor p = torch::tensor({1.0}, torch::kFloat64).requires_grad_(true);
  auto optimizer = MakeOptimizer({p}, c, 0.1);
  ASSERT_NE(dynamic_cast<torch::optim::Adam*>(optimizer.get()), nullptr);
  // Zero loss gradient: only the decay moves p, and Adam's first step moves it by lr.
  (p * 0.0).sum().backward();
  optimizer->step();
  EXPECT_NEAR(p.item<double>(), 0.9, 1e-6);
}

TEST(OptimizerTest, ClippingScalesTheGlobalNorm) {
  torch::Tensor p = torch::zeros({2}, torch::kFloat64).requires_grad_(true);
  torch::Tensor q = torch::zeros({1}, torch::kFloat64).requires_grad_(true);
  auto optimizer = MakeOptimizer({p, q}, OptimizerConfig{}, 0.1);
  (p * torch::tensor({3.0, 0.0}, torch::kFloat64)).sum().add((q * 4.0).sum()).backward();
  EXPECT_NEAR(ClipGradientNorm(*optimizer, 1.0), 5.0, 1e-9);  // norm of (3, 0, 4)
  EXPECT_NEAR(p.grad()[0].item<double>(), 0.6, 1e-6);
  EXPECT_NEAR(q.grad()[0].item<double>(), 0.8, 1e-6);
  // Below the bound nothing changes.
  EXPECT_NEAR(ClipGradientNorm(*optimizer, 10.0), 1.0, 1e-6);
  EXPECT_NEAR(q.grad()[0].item<double>(), 0.8, 1e-6);
}

// Two ranks, each holding the same network parameter `shared` and its own rows `rows` of a split
// one, clip as one process holding `shared` and both ranks' rows would.
TEST(OptimizerTest, ClippingASplitModelTakesTheNormOfTheWholeModel) {
  torch::manual_seed(3);
  const torch::Tensor shared_grad = torch::randn({4}, torch::kFloat64);
  const torch::Tensor rows_grad[2] = {torch::randn({3, 2}, torch::kFloat64),
                                      torch::randn({2, 2}, torch::kFloat64)};
  // The reference: torch's clipping over everything.
  torch::Tensor whole_shared = torch::zeros({4}, torch::kFloat64).requires_grad_(true);
  torch::Tensor whole_rows = torch::zeros({5, 2}, torch::kFloat64).requires_grad_(true);
  whole_shared.mutable_grad() = shared_grad.clone();
  whole_rows.mutable_grad() = torch::cat({rows_grad[0], rows_grad[1]});
  const double whole_norm = torch::nn::utils::clip_grad_norm_({whole_shared, whole_rows}, 1.0);
  ASSERT_GT(whole_norm, 1.5);  // so that it clips
  // Each rank's squared row norm, as the all-reduce would see them.
  const double other_rank_squared[2] = {rows_grad[1].pow(2).sum().item<double>(),
                                        rows_grad[0].pow(2).sum().item<double>()};
  for (int rank = 0; rank < 2; ++rank) {
    torch::Tensor shared = torch::zeros({4}, torch::kFloat64).requires_grad_(true);
    torch::Tensor rows = torch::zeros_like(rows_grad[rank]).requires_grad_(true);
    auto optimizer = MakeOptimizer({shared, rows}, OptimizerConfig{}, 0.1);
    shared.mutable_grad() = shared_grad.clone();
    rows.mutable_grad() = rows_grad[rank].clone();
    int calls = 0;
    const double norm = ClipGradientNorm(*optimizer, 1.0, {rows}, [&](double own) {
      ++calls;
      EXPECT_NEAR(own, rows_grad[rank].pow(2).sum().item<double>(), 1e-12);
      return own + other_rank_squared[rank];
    });
    EXPECT_EQ(calls, 1);
    EXPECT_NEAR(norm, whole_norm, 1e-9);
    EXPECT_TRUE(torch::allclose(shared.grad(), whole_shared.grad(), 1e-9, 1e-12)) << rank;
    const torch::Tensor mine =
        rank == 0 ? whole_rows.grad().slice(0, 0, 3) : whole_rows.grad().slice(0, 3, 5);
    EXPECT_TRUE(torch::allclose(rows.grad(), mine, 1e-9, 1e-12)) << rank;
  }
}

}  // namespace
}  // namespace ftl
