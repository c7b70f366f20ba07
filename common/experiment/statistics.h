// The statistics of `ftl experiment`'s tables: a metric's mean over seeds with the standard
// error of that mean, and FTL's paired differences against another variant (same split, seed
// and starting model). A failed run is NaN: it is left out, and the other runs stay paired by
// their position.
#ifndef FTL_COMMON_EXPERIMENT_STATISTICS_H_
#define FTL_COMMON_EXPERIMENT_STATISTICS_H_

#include <vector>

namespace ftl {

struct MeanSe {
  double mean;  // NaN when no value
  double se;    // sample standard deviation / sqrt(n); NaN for n < 2
  int n = 0;    // values that were not NaN
};

MeanSe Summarize(const std::vector<double>& values);

struct PairedDifference {
  MeanSe difference;  // of a[k] - b[k] over the positions where both are numbers
  int higher = 0;     // positions where a > b
  int lower = 0;      // positions where a < b
};

// Position k of `a` is paired with position k of `b` (the same seed, or the same split); a
// position either lacks (the shorter vector's end) or holds NaN in is left out.
PairedDifference PairedDifferenceOf(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace ftl

#endif  // FTL_COMMON_EXPERIMENT_STATISTICS_H_
