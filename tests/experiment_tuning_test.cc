// The experiment's tuning rule (common/experiment/tuning.h) and its statistics
// (common/experiment/statistics.h), against hand-worked searches and hand-computed values.
#include <cmath>
#include <functional>
#include <vector>

#include "common/experiment/statistics.h"
#include "common/experiment/tuning.h"
#include "common/experiment/variants.h"
#include "gtest/gtest.h"

namespace ftl {
namespace {

VariantPlan Plan(const std::string& name, const std::string& head = "softmax") {
  absl::StatusOr<VariantPlan> plan = FindVariant(name, head);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

std::vector<double> Sorted(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Drives a tuner to the end with `score(candidate)`, returning every candidate it asked for in
// order.
std::vector<TuningCandidate> Search(CoordinateTuner& tuner,
                                    const std::function<double(const TuningCandidate&)>& score) {
  std::vector<TuningCandidate> asked;
  for (int wave = 0; wave < 100 && !tuner.Done(); ++wave) {
    const std::vector<TuningCandidate> next = tuner.Next();
    EXPECT_FALSE(next.empty()) << "a tuner that is not done asked for nothing";
    if (next.empty()) break;
    for (const TuningCandidate& c : next) {
      asked.push_back(c);
      tuner.Record(c, score(c));
    }
  }
  EXPECT_TRUE(tuner.Done());
  return asked;
}

std::vector<double> LrsOf(const std::vector<TuningCandidate>& asked) {
  std::vector<double> lrs;
  for (const TuningCandidate& c : asked) lrs.push_back(c.lr);
  return lrs;
}

TEST(TuningAxesTest, EveryVariantHasTheSameLearningRateAxisFirst) {
  for (const VariantPlan& plan : ExperimentVariantPlans("softmax")) {
    const std::vector<TuningAxis> axes =
        TuningAxesOf(plan, "softmax", "full", 1e-4, Reduction::kMean, 27, 0.81);
    ASSERT_FALSE(axes.empty()) << plan.name;
    EXPECT_EQ(axes[0].knob, TuningKnob::kLearningRate) << plan.name;
    EXPECT_DOUBLE_EQ(axes[0].centre, 1e-4) << plan.name;
    ASSERT_EQ(axes[0].initial.size(), 3u) << plan.name;
    EXPECT_DOUBLE_EQ(Sorted(axes[0].initial)[0], 1e-4 / 3) << plan.name;
    EXPECT_DOUBLE_EQ(Sorted(axes[0].initial)[2], 3e-4) << plan.name;
    EXPECT_DOUBLE_EQ(axes[0].ratio, 3.0) << plan.name;
    EXPECT_EQ(axes[0].max_widenings, 2) << plan.name;
  }
}

TEST(TuningAxesTest, SecondAxesByVariant) {
  // softmax_ml2: per-logit strength {0.001, 0.03, 1} x N_c under the mean.
  std::vector<TuningAxis> axes =
      TuningAxesOf(Plan("softmax_ml2"), "softmax", "full", 1e-3, Reduction::kMean, 27, -1);
  ASSERT_EQ(axes.size(), 2u);
  EXPECT_EQ(axes[1].knob, TuningKnob::kAlphaReg);
  EXPECT_DOUBLE_EQ(axes[1].centre, 0.03 * 27);
  EXPECT_DOUBLE_EQ(Sorted(axes[1].initial)[0], 0.001 * 27);
  EXPECT_DOUBLE_EQ(Sorted(axes[1].initial)[2], 27.0);
  EXPECT_TRUE(axes[1].fixed.empty());
  // Under the sum the strength is alpha_reg itself.
  axes = TuningAxesOf(Plan("softmax_ml2"), "softmax", "full", 1e-3, Reduction::kSum, 27, -1);
  EXPECT_DOUBLE_EQ(axes[1].centre, 0.03);
  // Plain softmax and the FTL variants: the learning rate only.
  EXPECT_EQ(TuningAxesOf(Plan("softmax"), "softmax", "full", 1e-3, Reduction::kMean, 27, -1).size(),
            1u);
  for (const char* v : {"ftl", "ftl_no_transfer", "ftl_center_noise"}) {
    EXPECT_EQ(TuningAxesOf(Plan(v), "softmax", "full", 1e-4, Reduction::kMean, 27, 0.81).size(), 1u)
        << v;
  }
  // Every continued variant: alpha_reg around the inherited value, 0 included.
  for (const char* v : {"softmax_ml2_continued", "softmax_ml2_images", "softmax_ml2_steps",
                        "softmax_ml2_cb", "softmax_ml2_cbloss", "softmax_ml2_la"}) {
    axes = TuningAxesOf(Plan(v), "softmax", "full", 1e-4, Reduction::kMean, 27, 0.81);
    ASSERT_GE(axes.size(), 2u) << v;
    EXPECT_EQ(axes[1].knob, TuningKnob::kAlphaReg) << v;
    EXPECT_DOUBLE_EQ(axes[1].centre, 0.81) << v;
    EXPECT_EQ(axes[1].fixed, std::vector<double>{0.0}) << v;
    EXPECT_DOUBLE_EQ(Sorted(axes[1].initial)[0], 0.81 / 30) << v;
    EXPECT_DOUBLE_EQ(Sorted(axes[1].initial)[2], 0.81 * 30) << v;
  }
  // The class-balanced loss then its horizon 1 / (1 - beta): beta 0.9, 0.99, 0.999.
  axes =
      TuningAxesOf(Plan("softmax_ml2_cbloss"), "softmax", "full", 1e-4, Reduction::kMean, 27, 0.81);
  ASSERT_EQ(axes.size(), 3u);
  EXPECT_EQ(axes[2].knob, TuningKnob::kClassBalancedHorizon);
  EXPECT_EQ(Sorted(axes[2].initial), (std::vector<double>{10.0, 100.0, 1000.0}));
  EXPECT_DOUBLE_EQ(axes[2].ratio, 10.0);
  // Logit adjustment then tau.
  axes = TuningAxesOf(Plan("softmax_ml2_la"), "softmax", "full", 1e-4, Reduction::kMean, 27, 0.81);
  ASSERT_EQ(axes.size(), 3u);
  EXPECT_EQ(axes[2].knob, TuningKnob::kLogitAdjustTau);
  EXPECT_EQ(Sorted(axes[2].initial), (std::vector<double>{0.5, 1.0, 2.0}));
  // Under a margin head there is no m-L2 to tune.
  axes = TuningAxesOf(Plan("arcface_cb", "arcface"), "arcface", "full", 1e-4, Reduction::kMean, 27,
                      -1);
  EXPECT_EQ(axes.size(), 1u);
  // The quick grid: the learning rate x {1, 1/3}, never widened, for every variant.
  for (const VariantPlan& plan : ExperimentVariantPlans("softmax")) {
    axes = TuningAxesOf(plan, "softmax", "quick", 1e-4, Reduction::kMean, 27, 0.81);
    ASSERT_EQ(axes.size(), 1u) << plan.name;
    EXPECT_EQ(Sorted(axes[0].initial), (std::vector<double>{1e-4 / 3, 1e-4})) << plan.name;
    EXPECT_LE(axes[0].ratio, 1.0) << plan.name;
  }
}

TEST(TuningStartTest, KnobsNoAxisTunesKeepTheirDefaults) {
  TuningCandidate start = TuningStartOf(Plan("softmax_ml2"), Reduction::kMean, 10);
  EXPECT_DOUBLE_EQ(start.alpha_reg, 0.3);
  start = TuningStartOf(Plan("softmax_ml2_la"), Reduction::kMean, 10);
  EXPECT_DOUBLE_EQ(start.logit_adjust_tau, 1.0);
  EXPECT_LT(start.alpha_reg, 0);  // inherited
  start = TuningStartOf(Plan("softmax_ml2_cbloss"), Reduction::kMean, 10);
  EXPECT_DOUBLE_EQ(start.cb_horizon, 100.0);
  TuningCandidate beta = start;
  beta.lr = 1e-4;
  EXPECT_EQ(TuningLabel(beta, "lr"), "lr=0.0001 cb_beta=0.99");
  start = TuningStartOf(Plan("ftl"), Reduction::kMean, 10);
  EXPECT_LT(start.alpha_reg, 0);
  EXPECT_LT(start.logit_adjust_tau, 0);
}

TuningAxis LrAxis(double centre = 1.0) {
  return {TuningKnob::kLearningRate, centre, {3 * centre, centre, centre / 3}, 3.0, 2, {}};
}

TEST(CoordinateTunerTest, AnInteriorChoiceIsNotWidened) {
  CoordinateTuner tuner(TuningCandidate{}, {LrAxis()}, "lr");
  const std::vector<TuningCandidate> asked =
      Search(tuner, [](const TuningCandidate& c) { return c.lr == 1.0 ? 0.8 : 0.5; });
  EXPECT_EQ(Sorted(LrsOf(asked)), (std::vector<double>{1.0 / 3, 1.0, 3.0}));
  EXPECT_DOUBLE_EQ(tuner.Chosen().lr, 1.0);
  ASSERT_EQ(tuner.Outcomes().size(), 1u);
  EXPECT_FALSE(tuner.Outcomes()[0].at_edge);
  EXPECT_EQ(tuner.Outcomes()[0].widenings, 0);
  EXPECT_EQ(tuner.Chosen().label, "lr=1");
}

TEST(CoordinateTunerTest, AnEdgeChoiceWidensUntilInterior) {
  // Best at 9: 3 is the top edge of the first pass, so 9 is tried, then 27 (9 was the edge).
  CoordinateTuner tuner(TuningCandidate{}, {LrAxis()}, "lr");
  const std::vector<TuningCandidate> asked = Search(tuner, [](const TuningCandidate& c) {
    return -std::abs(std::log(c.lr / 9.0));  // peaks at 9
  });
  EXPECT_EQ(LrsOf(asked).size(), 5u);
  EXPECT_DOUBLE_EQ(asked[3].lr, 9.0);
  EXPECT_DOUBLE_EQ(asked[4].lr, 27.0);
  EXPECT_DOUBLE_EQ(tuner.Chosen().lr, 9.0);
  EXPECT_FALSE(tuner.Outcomes()[0].at_edge);
  EXPECT_EQ(tuner.Outcomes()[0].widenings, 2);
}

TEST(CoordinateTunerTest, WideningStopsAtItsLimitAndSaysEdge) {
  // Lower is always better: 1/3, then 1/9 and 1/27 (two widenings), still on the edge.
  CoordinateTuner tuner(TuningCandidate{}, {LrAxis()}, "lr");
  const std::vector<TuningCandidate> asked =
      Search(tuner, [](const TuningCandidate& c) { return -c.lr; });
  EXPECT_EQ(asked.size(), 5u);
  EXPECT_DOUBLE_EQ(tuner.Chosen().lr, 1.0 / 27);
  EXPECT_TRUE(tuner.Outcomes()[0].at_edge);
  EXPECT_EQ(tuner.Outcomes()[0].widenings, 2);
}

TEST(CoordinateTunerTest, TiesGoTowardsTheCentreThenTheSmallerValue) {
  TuningAxis axis = LrAxis();
  // All equal: the centre.
  EXPECT_DOUBLE_EQ(ChooseOnAxis(axis, {{1.0 / 3, 0.5}, {1.0, 0.5}, {3.0, 0.5}}), 1.0);
  // 1/3 and 3 tie, both as far from the centre: the smaller.
  EXPECT_DOUBLE_EQ(ChooseOnAxis(axis, {{1.0 / 3, 0.7}, {1.0, 0.5}, {3.0, 0.7}}), 1.0 / 3);
  // Within 1e-9 is a tie; beyond it the higher score wins.
  EXPECT_DOUBLE_EQ(ChooseOnAxis(axis, {{1.0, 0.5}, {3.0, 0.5 + 1e-12}}), 1.0);
  EXPECT_DOUBLE_EQ(ChooseOnAxis(axis, {{1.0, 0.5}, {3.0, 0.5 + 1e-6}}), 3.0);
  // A fixed value (alpha_reg 0) loses every tie with a geometric one, and wins when better.
  TuningAxis alpha{TuningKnob::kAlphaReg, 1.0, {1.0 / 30, 1.0, 30.0}, 0.0, 0, {0.0}};
  EXPECT_DOUBLE_EQ(ChooseOnAxis(alpha, {{0.0, 0.6}, {1.0 / 30, 0.6}, {1.0, 0.5}}), 1.0 / 30);
  EXPECT_DOUBLE_EQ(ChooseOnAxis(alpha, {{0.0, 0.7}, {1.0 / 30, 0.6}, {1.0, 0.5}}), 0.0);
  // A failed run (NaN) loses to every finished one, even one that scored 0 (no tie).
  EXPECT_DOUBLE_EQ(ChooseOnAxis(axis, {{1.0 / 3, 0.0}, {1.0, std::nan("")}}), 1.0 / 3);
}

TEST(CoordinateTunerTest, LaterAxesStartAtTheChoiceAndDoNotRetrainIt) {
  // lr first (best 3 of {1/3, 1, 3}... then 9 beats 3, 27 loses), then alpha at lr 9 with the
  // centre's score carried over: only 1/30, 30 and 0 are trained.
  const TuningAxis alpha{TuningKnob::kAlphaReg, 1.0, {1.0 / 30, 1.0, 30.0}, 0.0, 0, {0.0}};
  CoordinateTuner tuner(TuningCandidate{}, {LrAxis(), alpha}, "lr");
  const std::vector<TuningCandidate> asked = Search(tuner, [](const TuningCandidate& c) {
    const double lr_part = -std::abs(std::log(c.lr / 9.0));
    return lr_part + (c.alpha_reg == 0.0 ? 0.1 : 0.0);
  });
  ASSERT_EQ(asked.size(), 8u);  // 3 + 2 widenings on lr, 3 on alpha
  for (size_t k = 0; k < 5; ++k) EXPECT_DOUBLE_EQ(asked[k].alpha_reg, 1.0) << k;
  for (size_t k = 5; k < 8; ++k) {
    EXPECT_DOUBLE_EQ(asked[k].lr, 9.0) << k;
    EXPECT_NE(asked[k].alpha_reg, 1.0) << k;
  }
  EXPECT_DOUBLE_EQ(tuner.Chosen().lr, 9.0);
  EXPECT_DOUBLE_EQ(tuner.Chosen().alpha_reg, 0.0);
  EXPECT_EQ(tuner.Chosen().label, "lr=9 alpha_reg=0");
  ASSERT_EQ(tuner.Outcomes().size(), 2u);
  EXPECT_FALSE(tuner.Outcomes()[1].at_edge);  // 0 is outside the geometric range: no edge
}

TEST(CoordinateTunerTest, NextRepeatsUntilRecordedAndFailuresAreKnown) {
  CoordinateTuner tuner(TuningCandidate{}, {LrAxis()}, "stage_lr");
  EXPECT_EQ(tuner.Next().size(), 3u);
  EXPECT_EQ(tuner.Next().size(), 3u);  // nothing recorded yet: the same three
  for (const TuningCandidate& c : tuner.Next()) tuner.Record(c, std::nan(""));
  EXPECT_TRUE(tuner.Done());  // every run failed: not widened, nothing to go on
  EXPECT_FALSE(tuner.AnySucceeded());
  EXPECT_EQ(tuner.Chosen().label.rfind("stage_lr=", 0), 0u);
}

TEST(StatisticsTest, SummarizeByHand) {
  MeanSe s = Summarize({0.5, 0.7, 0.9});
  EXPECT_NEAR(s.mean, 0.7, 1e-12);
  EXPECT_NEAR(s.se, 0.2 / std::sqrt(3.0), 1e-12);  // sample sd 0.2
  EXPECT_EQ(s.n, 3);
  s = Summarize({0.5, std::nan(""), 0.9});  // a failed seed is left out
  EXPECT_NEAR(s.mean, 0.7, 1e-12);
  EXPECT_NEAR(s.se, 0.2, 1e-12);  // sd sqrt(0.08) / sqrt(2)
  EXPECT_EQ(s.n, 2);
  s = Summarize({0.4});
  EXPECT_NEAR(s.mean, 0.4, 1e-12);
  EXPECT_TRUE(std::isnan(s.se));
  s = Summarize({});
  EXPECT_TRUE(std::isnan(s.mean));
  EXPECT_EQ(s.n, 0);
}

TEST(StatisticsTest, PairedDifferencesByPosition) {
  // Positions 0 and 1 pair; 2 has a NaN, 3 is missing from b: both left out.
  const PairedDifference p = PairedDifferenceOf({0.6, 0.7, std::nan(""), 0.9}, {0.5, 0.8, 0.1});
  EXPECT_NEAR(p.difference.mean, 0.0, 1e-12);
  EXPECT_NEAR(p.difference.se, 0.1, 1e-12);  // differences +0.1, -0.1: sd 0.1414 / sqrt(2)
  EXPECT_EQ(p.difference.n, 2);
  EXPECT_EQ(p.higher, 1);
  EXPECT_EQ(p.lower, 1);
  const PairedDifference q = PairedDifferenceOf({0.7, 0.8, 0.9}, {0.6, 0.8, 0.6});
  EXPECT_NEAR(q.difference.mean, (0.1 + 0.0 + 0.3) / 3, 1e-12);
  EXPECT_EQ(q.higher, 2);
  EXPECT_EQ(q.lower, 0);  // an equal seed is neither
}

}  // namespace
}  // namespace ftl
