#include "common/experiment/tuning.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ftl {
namespace {

// Scores closer than this are a tie (the validation scores are shares of a few dozen probes).
constexpr double kTie = 1e-9;

std::string Number(double v) { return absl::StrFormat("%.4g", v); }

bool IsFixed(const TuningAxis& axis, double value) {
  return std::find(axis.fixed.begin(), axis.fixed.end(), value) != axis.fixed.end();
}

// The geometric values among `scored` (not the fixed ones), ascending (std::map's order).
std::vector<double> GeometricTried(const TuningAxis& axis, const std::map<double, double>& scored) {
  std::vector<double> out;
  for (const auto& [value, score] : scored) {
    if (!IsFixed(axis, value)) out.push_back(value);
  }
  return out;
}

// Distance from the centre on a log scale; a fixed value is farther than every geometric one.
double DistanceFromCentre(const TuningAxis& axis, double value) {
  if (IsFixed(axis, value) || value <= 0 || axis.centre <= 0)
    return std::numeric_limits<double>::infinity();
  return std::abs(std::log(value / axis.centre));
}

// m-L2's per-logit strength at the centre of its axis.
constexpr double kMl2CentreStrength = 0.03;

// alpha_reg of per-logit strength 1: 1 under the sum, N_c under the mean.
double Ml2Scale(Reduction reduction, int64_t num_classes) {
  return reduction == Reduction::kMean ? static_cast<double>(std::max<int64_t>(num_classes, 1))
                                       : 1.0;
}

}  // namespace

const char* TuningKnobName(TuningKnob knob) {
  switch (knob) {
    case TuningKnob::kLearningRate:
      return "lr";
    case TuningKnob::kAlphaReg:
      return "alpha_reg";
    case TuningKnob::kLogitAdjustTau:
      return "tau";
    case TuningKnob::kClassBalancedHorizon:
      return "cb_beta";
  }
  return "?";
}

std::vector<TuningAxis> TuningAxesOf(const VariantPlan& plan, const std::string& head,
                                     const std::string& grid, double lr, Reduction ml2_reduction,
                                     int64_t num_classes, double inherited_alpha) {
  std::vector<TuningAxis> axes;
  if (grid == "quick") {
    axes.push_back({TuningKnob::kLearningRate, lr, {lr, lr / 3}, 0.0, 0, {}});
    return axes;
  }
  axes.push_back({TuningKnob::kLearningRate, lr, {3 * lr, lr, lr / 3}, 3.0, 2, {}});
  const bool softmax_head = head == "softmax";
  if (plan.kind == VariantKind::kFromScratch && plan.ml2) {
    // Per-logit strength s: alpha_reg s under the sum, s * N_c under the mean (Eq. 4's m-L2).
    const double scale = Ml2Scale(ml2_reduction, num_classes);
    axes.push_back({TuningKnob::kAlphaReg,
                    kMl2CentreStrength * scale,
                    {0.001 * scale, kMl2CentreStrength * scale, 1.0 * scale},
                    30.0,
                    1,
                    {}});
  }
  if (plan.kind == VariantKind::kContinued && softmax_head && plan.ml2 && inherited_alpha > 0) {
    // 0 included: m-L2 pins the logits' scale, which may block logit adjustment's correction.
    axes.push_back({TuningKnob::kAlphaReg,
                    inherited_alpha,
                    {inherited_alpha / 30, inherited_alpha, inherited_alpha * 30},
                    0.0,
                    0,
                    {0.0}});
  }
  if (plan.class_balanced_loss) {
    axes.push_back({TuningKnob::kClassBalancedHorizon, 100.0, {10.0, 100.0, 1000.0}, 10.0, 1, {}});
  }
  if (plan.logit_adjusted) {
    axes.push_back({TuningKnob::kLogitAdjustTau, 1.0, {0.5, 1.0, 2.0}, 2.0, 1, {}});
  }
  return axes;
}

std::string TuningLabel(const TuningCandidate& candidate, const std::string& lr_name) {
  std::string label = absl::StrCat(lr_name, "=", Number(candidate.lr));
  if (candidate.alpha_reg >= 0) absl::StrAppend(&label, " alpha_reg=", Number(candidate.alpha_reg));
  if (candidate.logit_adjust_tau >= 0)
    absl::StrAppend(&label, " tau=", Number(candidate.logit_adjust_tau));
  if (candidate.cb_horizon > 0)
    absl::StrAppend(&label, " cb_beta=", Number(1.0 - 1.0 / candidate.cb_horizon));
  return label;
}

TuningCandidate TuningStartOf(const VariantPlan& plan, Reduction ml2_reduction,
                              int64_t num_classes) {
  TuningCandidate start;
  if (plan.kind == VariantKind::kFromScratch && plan.ml2)
    start.alpha_reg = kMl2CentreStrength * Ml2Scale(ml2_reduction, num_classes);
  if (plan.logit_adjusted) start.logit_adjust_tau = 1.0;
  if (plan.class_balanced_loss) start.cb_horizon = 100.0;
  return start;
}

double ChooseOnAxis(const TuningAxis& axis, const std::map<double, double>& scored) {
  double best = axis.centre;
  double best_score = -std::numeric_limits<double>::infinity();
  bool first = true;
  for (const auto& [value, raw] : scored) {
    const double score = std::isnan(raw) ? -std::numeric_limits<double>::infinity() : raw;
    bool better = first || score > best_score + kTie;
    if (!better && std::abs(score - best_score) <= kTie) {
      // A tie: nearer the centre wins, then the smaller value (the map is ascending, so an
      // equally near value seen later is larger and loses).
      better = DistanceFromCentre(axis, value) < DistanceFromCentre(axis, best);
    }
    if (better) {
      best = value;
      best_score = score;
      first = false;
    }
  }
  return best;
}

namespace {

// The field of `c` that `knob` sets (const or not, as `c` is).
template <typename Candidate>
auto& KnobIn(Candidate& c, TuningKnob knob) {
  switch (knob) {
    case TuningKnob::kAlphaReg:
      return c.alpha_reg;
    case TuningKnob::kLogitAdjustTau:
      return c.logit_adjust_tau;
    case TuningKnob::kClassBalancedHorizon:
      return c.cb_horizon;
    case TuningKnob::kLearningRate:
      break;
  }
  return c.lr;
}

// An axis' values to score first: its geometric ones, then its fixed ones.
std::vector<double> FirstValues(const TuningAxis& axis) {
  std::vector<double> values = axis.initial;
  values.insert(values.end(), axis.fixed.begin(), axis.fixed.end());
  return values;
}

}  // namespace

CoordinateTuner::CoordinateTuner(TuningCandidate start, std::vector<TuningAxis> axes,
                                 std::string lr_name)
    : axes_(std::move(axes)), lr_name_(std::move(lr_name)), current_(std::move(start)) {
  for (const TuningAxis& axis : axes_) KnobIn(current_, axis.knob) = axis.centre;
  if (!axes_.empty()) values_ = FirstValues(axes_[0]);
  current_.label = TuningLabel(current_, lr_name_);
}

TuningCandidate CoordinateTuner::At(double value) const {
  TuningCandidate c = current_;
  KnobIn(c, axes_[axis_].knob) = value;
  c.label = TuningLabel(c, lr_name_);
  return c;
}

std::vector<TuningCandidate> CoordinateTuner::Next() {
  std::vector<TuningCandidate> out;
  if (Done()) return out;
  for (double value : values_) {
    if (!scored_.count(value)) out.push_back(At(value));
  }
  return out;
}

void CoordinateTuner::Record(const TuningCandidate& candidate, double score) {
  if (Done()) return;
  scored_[KnobIn(candidate, axes_[axis_].knob)] = score;
  if (!std::isnan(score)) any_success_ = true;
  Advance();
}

void CoordinateTuner::Advance() {
  while (!Done()) {
    for (double value : values_) {
      if (!scored_.count(value)) return;  // still waiting for scores
    }
    const TuningAxis& axis = axes_[axis_];
    const double best = ChooseOnAxis(axis, scored_);
    const std::vector<double> geometric = GeometricTried(axis, scored_);
    const bool is_geometric = !IsFixed(axis, best) && geometric.size() >= 2;
    const bool at_top = is_geometric && best == geometric.back();
    const bool at_bottom = is_geometric && best == geometric.front();
    // Widen towards an edge choice while the axis allows (an axis whose runs all failed is not
    // widened: nothing says which way).
    const bool all_failed = std::all_of(scored_.begin(), scored_.end(),
                                        [](const auto& kv) { return std::isnan(kv.second); });
    if (axis.ratio > 1 && !all_failed) {
      if (at_top && widened_up_ < axis.max_widenings) {
        ++widened_up_;
        values_.push_back(best * axis.ratio);
        continue;
      }
      if (at_bottom && widened_down_ < axis.max_widenings) {
        ++widened_down_;
        values_.push_back(best / axis.ratio);
        continue;
      }
    }
    const double best_score = scored_.at(best);
    current_ = At(best);
    outcomes_.push_back({axis.knob, best, at_top || at_bottom, widened_up_ + widened_down_});
    ++axis_;
    widened_up_ = widened_down_ = 0;
    scored_.clear();
    values_.clear();
    if (Done()) return;
    // The next axis starts at the point just chosen: its centre is scored already.
    const TuningAxis& next = axes_[axis_];
    values_ = FirstValues(next);
    const double centre = KnobIn(current_, next.knob);
    scored_[centre] = best_score;
    if (std::find(values_.begin(), values_.end(), centre) == values_.end())
      values_.push_back(centre);
  }
}

}  // namespace ftl
