#include "common/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace ftl {
namespace {

// Accuracy of `score > threshold` predicting `same`, over the pairs with fold membership `use`.
double AccuracyAt(const std::vector<double>& scores, const std::vector<bool>& same,
                  const std::vector<char>& use, double threshold) {
  int64_t correct = 0, total = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!use[i]) continue;
    ++total;
    correct += (scores[i] > threshold) == same[i];
  }
  return total ? static_cast<double>(correct) / total : 0.0;
}

double TarAtFar(const std::vector<double>& scores, const std::vector<bool>& same, double far) {
  std::vector<double> impostor, genuine;
  for (size_t i = 0; i < scores.size(); ++i) (same[i] ? genuine : impostor).push_back(scores[i]);
  if (impostor.empty() || genuine.empty()) return std::nan("");
  std::sort(impostor.begin(), impostor.end(), std::greater<double>());
  // Accept score > t: at most floor(far * |impostor|) impostors may exceed t.
  const size_t allowed = static_cast<size_t>(std::floor(far * impostor.size()));
  const double threshold = impostor[std::min(allowed, impostor.size() - 1)];
  const double accepted =
      std::count_if(genuine.begin(), genuine.end(), [&](double s) { return s > threshold; });
  return accepted / genuine.size();
}

}  // namespace

Rank1Result NearestCenterRank1FromCenters(const torch::Tensor& centers,
                                          const torch::Tensor& has_gallery,
                                          const torch::Tensor& probes,
                                          const torch::Tensor& probe_labels,
                                          const torch::Tensor& is_regular) {
  namespace F = torch::nn::functional;
  const auto unit = F::NormalizeFuncOptions().dim(1);
  torch::Tensor similarity = F::normalize(probes.to(torch::kFloat64), unit)
                                 .mm(F::normalize(centers.to(torch::kFloat64), unit).t());
  similarity.masked_fill_((~has_gallery).unsqueeze(0), -std::numeric_limits<double>::infinity());
  const torch::Tensor correct = similarity.argmax(1) == probe_labels;
  const torch::Tensor regular = is_regular.index_select(0, probe_labels);
  Rank1Result r;
  r.regular_probes = regular.sum().item<int64_t>();
  r.ur_probes = probe_labels.size(0) - r.regular_probes;
  r.regular_hits = (correct & regular).sum().item<int64_t>();
  r.ur_hits = (correct & ~regular).sum().item<int64_t>();
  r.regular =
      r.regular_probes ? static_cast<double>(r.regular_hits) / r.regular_probes : std::nan("");
  r.ur = r.ur_probes ? static_cast<double>(r.ur_hits) / r.ur_probes : std::nan("");
  return r;
}

Rank1Result NearestCenterRank1(const torch::Tensor& gallery, const torch::Tensor& gallery_labels,
                               const torch::Tensor& probes, const torch::Tensor& probe_labels,
                               const torch::Tensor& is_regular) {
  const int64_t num_classes = is_regular.size(0);
  // On the CPU whatever device the features come from (the tallies below read them on the host).
  const torch::Tensor labels = gallery_labels.cpu();
  torch::Tensor sums = torch::zeros({num_classes, gallery.size(1)}, torch::kFloat64);
  sums.index_add_(0, labels, gallery.to(torch::kCPU, torch::kFloat64));
  const torch::Tensor counts = torch::bincount(labels, {}, num_classes);
  return NearestCenterRank1FromCenters(sums / counts.clamp_min(1).unsqueeze(1).to(torch::kFloat64),
                                       counts > 0, probes.cpu(), probe_labels.cpu(),
                                       is_regular.cpu());
}

VerificationResult ConsecutivePairVerification(const torch::Tensor& embeddings,
                                               const std::vector<bool>& same) {
  const int64_t pairs = static_cast<int64_t>(same.size());
  TORCH_CHECK(embeddings.dim() == 2 && embeddings.size(0) == 2 * pairs,
              "ConsecutivePairVerification: expected [2P, D] embeddings for ", pairs, " pairs");
  const torch::Tensor e = embeddings.to(torch::kCPU, torch::kFloat64);
  const torch::Tensor scores =
      torch::cosine_similarity(e.slice(0, 0, 2 * pairs, 2), e.slice(0, 1, 2 * pairs, 2), 1)
          .contiguous();
  const std::vector<double> score(scores.data_ptr<double>(), scores.data_ptr<double>() + pairs);
  std::vector<int> fold(pairs);
  const int64_t base = pairs / 10, extra = pairs % 10;
  for (int64_t f = 0, at = 0; f < 10; ++f) {
    for (int64_t k = 0; k < base + (f < extra ? 1 : 0); ++k) fold[at++] = static_cast<int>(f);
  }
  return KFoldVerification(score, same, fold);
}

VerificationResult KFoldVerification(const std::vector<double>& scores,
                                     const std::vector<bool>& same, const std::vector<int>& fold) {
  VerificationResult result;
  const int folds = fold.empty() ? 0 : *std::max_element(fold.begin(), fold.end()) + 1;
  std::vector<double> accuracies;
  for (int k = 0; k < folds; ++k) {
    std::vector<char> train(scores.size()), test(scores.size());
    std::vector<double> sorted;
    for (size_t i = 0; i < scores.size(); ++i) {
      test[i] = fold[i] == k;
      train[i] = !test[i];
      if (train[i]) sorted.push_back(scores[i]);
    }
    if (sorted.empty()) continue;  // one fold only: nothing to choose a threshold on
    // Candidates: midpoints between consecutive distinct training scores, and both ends.
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    std::vector<double> candidates = {sorted.front() - 1.0};
    for (size_t i = 0; i + 1 < sorted.size(); ++i)
      candidates.push_back(0.5 * (sorted[i] + sorted[i + 1]));
    candidates.push_back(sorted.back() + 1.0);
    // Of the thresholds with the best training accuracy, take the middle one: it is the farthest
    // from the training pairs on either side.
    double best = -1.0;
    std::vector<double> best_thresholds;
    for (double t : candidates) {
      const double a = AccuracyAt(scores, same, train, t);
      if (a > best + 1e-12) {
        best = a;
        best_thresholds.clear();
      }
      if (a > best - 1e-12) best_thresholds.push_back(t);
    }
    accuracies.push_back(
        AccuracyAt(scores, same, test, best_thresholds[(best_thresholds.size() - 1) / 2]));
  }
  if (!accuracies.empty()) {
    result.accuracy =
        std::accumulate(accuracies.begin(), accuracies.end(), 0.0) / accuracies.size();
    double var = 0.0;
    for (double a : accuracies) var += (a - result.accuracy) * (a - result.accuracy);
    result.accuracy_std = std::sqrt(var / accuracies.size());
  }
  result.tar_at_far_1e2 = TarAtFar(scores, same, 1e-2);
  result.tar_at_far_1e3 = TarAtFar(scores, same, 1e-3);
  return result;
}

double CoverageAtPrecision(const std::vector<double>& confidence, const std::vector<bool>& correct,
                           double precision) {
  std::vector<size_t> order(confidence.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return confidence[a] > confidence[b]; });
  int64_t hits = 0;
  size_t best = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    hits += correct[order[k]];
    // A threshold can only separate different confidences: cut after the last of a tie.
    const bool boundary = k + 1 == order.size() || confidence[order[k + 1]] < confidence[order[k]];
    if (boundary && static_cast<double>(hits) / (k + 1) >= precision) best = k + 1;
  }
  return order.empty() ? 0.0 : static_cast<double>(best) / order.size();
}

}  // namespace ftl
