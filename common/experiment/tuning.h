// How `ftl experiment` chooses a variant's hyper-parameters: the same rule for every variant.
//
// A variant has one or more axes (the learning rate first, for every variant; then m-L2's
// alpha_reg and logit adjustment's tau where it has them). They are searched one at a time, each
// at the values chosen on the axes before it (coordinate search):
//   1. the axis' initial values are scored on the validation split;
//   2. while the best lies on an edge of the axis' geometric values (its highest or lowest), the
//      next value beyond that edge (one step of the axis' ratio) is scored too, at most
//      `max_widenings` times per direction; a choice still on an edge after that is reported as
//      such (TuningOutcome::at_edge, the `chosen` column of results.md);
//   3. ties (scores within 1e-9) go to the value nearest the axis' centre on a log scale, then to
//      the smaller value; a value outside the geometric range (alpha_reg 0) ranks after every
//      geometric one in a tie. A failed run scores below every finished one.
// The point the previous axis chose is the next axis' centre, so its score is carried over
// rather than trained again.
#ifndef FTL_COMMON_EXPERIMENT_TUNING_H_
#define FTL_COMMON_EXPERIMENT_TUNING_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config/job_config.h"
#include "common/experiment/variants.h"

namespace ftl {

enum class TuningKnob {
  kLearningRate,  // the learning rate of the variant's own training (pretrain or stage)
  kAlphaReg,      // loss.alpha_reg (m-L2's weight)
  kLogitAdjustTau,
  // The class-balanced loss's horizon 1 / (1 - beta) (a count of images: geometric, unlike beta).
  kClassBalancedHorizon,
};

// One point of a variant's search: the values its job gets. alpha_reg < 0: inherited from the
// base's choice; logit_adjust_tau < 0: none.
struct TuningCandidate {
  std::string label;  // e.g. "lr=0.0003 alpha_reg=0.81" (TuningLabel)
  double lr = 0.0;
  double alpha_reg = -1.0;
  double logit_adjust_tau = -1.0;
  double cb_horizon = -1.0;  // 1 / (1 - loss.class_balanced_beta); < 0: none
};

// "lr", "alpha_reg", "tau", "cb_beta" (results.md's edge notes).
const char* TuningKnobName(TuningKnob knob);

struct TuningAxis {
  TuningKnob knob = TuningKnob::kLearningRate;
  double centre = 0.0;          // the value the search of this axis starts from
  std::vector<double> initial;  // geometric values scored first (the centre among them)
  double ratio = 0.0;           // between neighbours when widening; <= 1: never widened
  int max_widenings = 0;        // per direction
  std::vector<double> fixed;    // values outside the geometric range (alpha_reg 0), never widened
};

// What the search chose on one axis.
struct TuningOutcome {
  TuningKnob knob = TuningKnob::kLearningRate;
  double value = 0.0;
  bool at_edge = false;  // the highest or lowest geometric value tried, after widening
  int widenings = 0;     // values added beyond the initial ones
};

// The axes `plan` is tuned over in an experiment with `head`, `grid` ("full" or "quick"),
// `lr` (the centre: --pretrain_lr for the from-scratch variants, --stage_lr for the others),
// m-L2's reduction and `num_classes` (a per-logit strength s is alpha_reg s, or s * N_c under the
// mean), and `inherited_alpha` (the base's chosen alpha_reg; < 0 when there is none).
//   every variant: lr x {3, 1, 1/3}, widened by 3, twice per direction at most;
//   softmax_ml2 then: per-logit strength {0.001, 0.03, 1}, widened by 30 once per direction;
//   the continued variants then: alpha_reg {a/30, a, 30a} and 0 (a inherited, not widened);
//   logit adjustment then: tau {0.5, 1, 2}, widened by 2 once per direction;
//   the class-balanced loss then: 1 / (1 - beta) {10, 100, 1000} (beta 0.9, 0.99, 0.999),
//   widened by 10 once per direction.
// The quick grid is lr x {1, 1/3} only, never widened (the other knobs at their centres).
std::vector<TuningAxis> TuningAxesOf(const VariantPlan& plan, const std::string& head,
                                     const std::string& grid, double lr, Reduction ml2_reduction,
                                     int64_t num_classes, double inherited_alpha);

// Where `plan`'s search starts, before the axes set their centres: softmax_ml2's per-logit
// strength 0.03, logit adjustment's tau 1 and the class-balanced loss's beta 0.99 (what the quick
// grid keeps), the rest inherited.
TuningCandidate TuningStartOf(const VariantPlan& plan, Reduction ml2_reduction,
                              int64_t num_classes);

// "lr=0.0003 alpha_reg=0.81 tau=1": the learning rate under `lr_name` ("pretrain_lr",
// "stage_lr", "lr"), then alpha_reg, tau and cb_beta where the candidate sets them.
std::string TuningLabel(const TuningCandidate& candidate, const std::string& lr_name);

// The search over a variant's axes (see the top of this file). Use: while (!Done()) { score
// every candidate of Next() and Record() each }.
class CoordinateTuner {
 public:
  // `start` holds the values no axis tunes; every axis' knob starts at its centre.
  CoordinateTuner(TuningCandidate start, std::vector<TuningAxis> axes, std::string lr_name);

  // The candidates to score next (not scored before); empty once Done(). Calling it again before
  // recording them returns them again.
  std::vector<TuningCandidate> Next();
  // The validation score of a candidate Next() returned; NaN for a run that failed.
  void Record(const TuningCandidate& candidate, double score);

  bool Done() const { return axis_ >= axes_.size(); }
  // The chosen point (every axis searched); before Done(), the best so far.
  const TuningCandidate& Chosen() const { return current_; }
  const std::vector<TuningOutcome>& Outcomes() const { return outcomes_; }
  // Whether any recorded run finished (false: every run of the first axis failed).
  bool AnySucceeded() const { return any_success_; }

 private:
  TuningCandidate At(double value) const;  // current_ with the current axis' knob at `value`
  // Advances past every axis whose values are all scored (widening or choosing).
  void Advance();

  std::vector<TuningAxis> axes_;
  std::string lr_name_;
  size_t axis_ = 0;
  TuningCandidate current_;
  std::vector<double> values_;       // the current axis' values to score (geometric and fixed)
  std::map<double, double> scored_;  // the current axis: value -> score
  int widened_up_ = 0, widened_down_ = 0;
  std::vector<TuningOutcome> outcomes_;
  bool any_success_ = false;
};

// The choice among `scored` (value -> score; NaN lost) on `axis` by the rule above.
double ChooseOnAxis(const TuningAxis& axis, const std::map<double, double>& scored);

}  // namespace ftl

#endif  // FTL_COMMON_EXPERIMENT_TUNING_H_
