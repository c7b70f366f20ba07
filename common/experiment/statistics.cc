#include "common/experiment/statistics.h"

#include <algorithm>
#include <cmath>

namespace ftl {

MeanSe Summarize(const std::vector<double>& values) {
  MeanSe s{std::nan(""), std::nan(""), 0};
  std::vector<double> v;
  for (double x : values) {
    if (!std::isnan(x)) v.push_back(x);
  }
  s.n = static_cast<int>(v.size());
  if (v.empty()) return s;
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / v.size();
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.se = std::sqrt(ss / (v.size() - 1)) / std::sqrt(static_cast<double>(v.size()));
  }
  return s;
}

PairedDifference PairedDifferenceOf(const std::vector<double>& a, const std::vector<double>& b) {
  PairedDifference p;
  std::vector<double> differences;
  for (size_t k = 0; k < std::min(a.size(), b.size()); ++k) {
    if (std::isnan(a[k]) || std::isnan(b[k])) continue;
    differences.push_back(a[k] - b[k]);
    p.higher += a[k] > b[k];
    p.lower += a[k] < b[k];
  }
  p.difference = Summarize(differences);
  return p;
}

}  // namespace ftl
