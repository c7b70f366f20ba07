#include "common/eval/evaluator.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "common/data/image_decode.h"
#include "common/data/image_folder.h"
#include "common/eval/metric_names.h"
#include "common/eval/pairs.h"
#include "common/model/autocast.h"
#include "common/protocol/protocol.h"
#include "common/util/log.h"
#include "common/util/status_macros.h"
#include "common/util/work_counter.h"

namespace ftl {
namespace {

constexpr int64_t kBatch = 128;

ImageOptions OptionsFor(const JobConfig& config) {
  return ImageOptionsFor(config.data, config.model);
}

// A pair's image: LFW's file layout under evaluation.pairs_images, or else the index-th image of
// that identity in the training source (data.path) -- the rule `ftl pairs` writes with. From the
// source, the images of the pairs `mine` are read once, at Open.
class PairImages {
 public:
  static absl::StatusOr<PairImages> Open(const JobConfig& config,
                                         const std::vector<VerificationPair>& pairs,
                                         const std::vector<int64_t>& mine) {
    PairImages images;
    images.options_ = OptionsFor(config);
    images.lfw_root_ = config.evaluation.pairs_images;
    if (!images.lfw_root_.empty()) return images;
    FTL_ASSIGN_OR_RETURN(const SourceListing listing, ListSource(config.data));
    images.by_identity_ = SamplesByIdentity(listing);
    std::vector<std::string> wanted;
    for (int64_t i : mine) {
      const VerificationPair& p = pairs[i];
      for (const std::string& sample :
           {images.SampleOf(p.name1, p.index1), images.SampleOf(p.name2, p.index2)}) {
        if (!sample.empty()) wanted.push_back(sample);
      }
    }
    if (wanted.empty()) return images;
    absl::StatusOr<Dataset> loaded = LoadSource(config.data, images.options_, &wanted);
    if (!loaded.ok()) {  // every pair then counts as left out
      Log("evaluation: pairs: ", loaded.status().message());
      return images;
    }
    images.source_ = *std::move(loaded);
    for (int64_t r = 0; r < images.source_.size(); ++r)
      images.row_of_[images.source_.sample_names[r]] = r;
    return images;
  }

  // uint8 [C, S, S]; NotFound (or the decoder's error) when the image is missing or unreadable.
  absl::StatusOr<torch::Tensor> Image(const std::string& name, int index) const {
    if (!lfw_root_.empty()) return ReadImageFile(LfwImagePath(lfw_root_, name, index), options_);
    auto it = row_of_.find(SampleOf(name, index));
    if (it == row_of_.end()) return absl::NotFoundError(absl::StrCat(name, " #", index));
    return source_.images[it->second];
  }

 private:
  // The index-th (1-based) sample of identity `name` in the source, or "".
  std::string SampleOf(const std::string& name, int index) const {
    auto it = by_identity_.find(name);
    if (it == by_identity_.end() || index < 1 || index > static_cast<int>(it->second.size()))
      return "";
    return it->second[index - 1];
  }

  ImageOptions options_;
  std::string lfw_root_;
  std::unordered_map<std::string, std::vector<std::string>> by_identity_;
  Dataset source_;
  std::unordered_map<std::string, int64_t> row_of_;
};

}  // namespace

Evaluator::Evaluator(const JobConfig& config, const Dataset& training_set, Communicator& comm,
                     torch::Device device)
    : config_(config), training_set_(training_set), comm_(comm), device_(device) {}

Evaluator::~Evaluator() = default;

std::map<std::string, double> EvaluationMetrics::Named() const {
  namespace n = metric_names;
  std::map<std::string, double> m;
  if (verification) {
    m[n::kVerifAccF] = verification->on_f.accuracy;
    m[n::kVerifAccStdF] = verification->on_f.accuracy_std;
    m[n::kVerifTarFar1e2F] = verification->on_f.tar_at_far_1e2;
    m[n::kVerifTarFar1e3F] = verification->on_f.tar_at_far_1e3;
    m[n::kVerifAccG] = verification->on_g.accuracy;
    m[n::kVerifPairs] = static_cast<double>(verification->pairs_used);
  }
  if (holdout) {
    auto put = [&m](const char* name, const std::optional<double>& value) {
      if (value) m[name] = *value;
    };
    put(n::kHoldoutRank1RegularG, holdout->rank1_regular_g);
    put(n::kHoldoutRank1UrG, holdout->rank1_ur_g);
    put(n::kHoldoutRank1RegularF, holdout->rank1_regular_f);
    put(n::kHoldoutRank1UrF, holdout->rank1_ur_f);
    put(n::kHoldoutCoverageP99Ur, holdout->coverage_p99_ur);
    put(n::kHoldoutTop1UrClassifier, holdout->top1_ur_classifier);
  }
  for (const auto& [stem, set] : bin_sets) {
    m[n::BinSetMetric(stem, "acc_f")] = set.on_f.accuracy;
    m[n::BinSetMetric(stem, "acc_std_f")] = set.on_f.accuracy_std;
    m[n::BinSetMetric(stem, "tar_far1e3_f")] = set.on_f.tar_at_far_1e3;
    m[n::BinSetMetric(stem, "acc_g")] = set.on_g.accuracy;
  }
  return m;
}

EvaluationMetrics Evaluator::Evaluate(FtlModel& model, Classifier& classifier,
                                      const torch::Tensor& is_regular) {
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  EvaluationMetrics metrics;
  if (!config_.evaluation.pairs_path.empty()) metrics.verification = Verification(model);
  if (!config_.evaluation.holdout_path.empty() || !config_.evaluation.holdout_manifest.empty()) {
    metrics.holdout = Holdout(model, classifier, is_regular);
  }
  for (const std::string& path : config_.evaluation.bin_sets) {
    std::optional<VerificationMetrics> set = BinSet(model, path);
    if (set) metrics.bin_sets[std::filesystem::path(path).stem().string()] = *set;
  }
  model->train(was_training);
  return metrics;
}

std::pair<torch::Tensor, torch::Tensor> Evaluator::Features(FtlModel& model,
                                                            const torch::Tensor& x) const {
  CountWork();  // a batch of evaluation: the heartbeat's sign of progress
  torch::NoGradGuard no_grad;
  Bf16AutocastScope autocast_scope(device_.is_cuda() && config_.runtime.bf16_autocast);
  torch::Tensor g = model->enc->forward(x.to(device_));
  torch::Tensor f = model->filter->forward(g);
  return {g.to(torch::kCPU, torch::kFloat32), f.to(torch::kCPU, torch::kFloat32)};
}

bool Evaluator::EveryRankOk(const absl::Status& status, const std::string& what) {
  if (!status.ok()) Log("evaluation: ", what, status.message());
  std::vector<torch::Tensor> failed = {torch::tensor({status.ok() ? 0.0 : 1.0}, torch::kFloat64)};
  comm_.AllReduceSum(failed);
  return failed[0].item<double>() == 0.0;
}

std::optional<VerificationMetrics> Evaluator::Verification(FtlModel& model) {
  absl::StatusOr<std::vector<VerificationPair>> pairs =
      ReadPairsFile(config_.evaluation.pairs_path);
  if (!EveryRankOk(pairs.status(), "")) return std::nullopt;
  const int64_t n = static_cast<int64_t>(pairs->size());
  // [score_g, score_f, valid] per pair, filled for this rank's stripe and summed across ranks.
  torch::Tensor table = torch::zeros({3, n}, torch::kFloat64);
  std::vector<int64_t> rows;
  std::vector<torch::Tensor> left, right;
  auto flush = [&] {
    if (rows.empty()) return;
    const auto [g1, f1] = Features(model, torch::stack(left).to(torch::kFloat32).div_(255.0));
    const auto [g2, f2] = Features(model, torch::stack(right).to(torch::kFloat32).div_(255.0));
    const torch::Tensor index = torch::tensor(rows, torch::kInt64);
    // In float64: features of a barely trained model differ in the 7th digit.
    auto cosine = [](const torch::Tensor& a, const torch::Tensor& b) {
      return torch::cosine_similarity(a.to(torch::kFloat64), b.to(torch::kFloat64), 1);
    };
    table[0].index_put_({index}, cosine(g1, g2));
    table[1].index_put_({index}, cosine(f1, f2));
    table[2].index_fill_(0, index, 1.0);
    rows.clear();
    left.clear();
    right.clear();
  };
  std::vector<int64_t> mine;
  for (int64_t i = comm_.rank(); i < n; i += comm_.size()) mine.push_back(i);
  absl::StatusOr<PairImages> images = PairImages::Open(config_, *pairs, mine);
  if (!EveryRankOk(images.status(), "pairs: ")) return std::nullopt;
  for (int64_t i : mine) {
    const VerificationPair& p = (*pairs)[i];
    auto a = images->Image(p.name1, p.index1);
    auto b = images->Image(p.name2, p.index2);
    if (!a.ok() || !b.ok()) continue;  // counted below as pairs left out
    rows.push_back(i);
    left.push_back(*a);
    right.push_back(*b);
    if (static_cast<int64_t>(rows.size()) == kBatch) flush();
  }
  flush();
  std::vector<torch::Tensor> t = {table};
  comm_.AllReduceSum(t);
  std::vector<double> score_g, score_f;
  std::vector<bool> same;
  std::vector<int> fold;
  for (int64_t i = 0; i < n; ++i) {
    if (table[2][i].item<double>() < 0.5) continue;
    score_g.push_back(table[0][i].item<double>());
    score_f.push_back(table[1][i].item<double>());
    same.push_back((*pairs)[i].same);
    fold.push_back((*pairs)[i].fold);
  }
  VerificationMetrics result;
  result.on_f = KFoldVerification(score_f, same, fold);
  result.on_g = KFoldVerification(score_g, same, fold);
  result.pairs_used = static_cast<int64_t>(same.size());
  result.pairs_listed = n;
  if (same.size() < pairs->size() && comm_.rank() == 0) {
    Log("evaluation: ", pairs->size() - same.size(),
        " pair(s) left out: image missing or unreadable");
  }
  return result;
}

std::optional<VerificationMetrics> Evaluator::BinSet(FtlModel& model, const std::string& path) {
  auto cached = bins_.find(path);
  absl::Status read;
  if (cached == bins_.end()) {
    absl::StatusOr<VerificationBin> bin = ReadVerificationBin(path);
    if (bin.ok()) {
      cached = bins_.emplace(path, *std::move(bin)).first;
    } else {
      read = bin.status();
    }
  }
  if (!EveryRankOk(read, "bin set: ")) return std::nullopt;
  const VerificationBin& bin = cached->second;
  const int64_t n = static_cast<int64_t>(bin.images.size());
  const ImageOptions options = OptionsFor(config_);
  const int64_t d = config_.model.feature_dim;
  // [g | f] per image, this rank's stripe filled (image + mirror image), summed across ranks.
  torch::Tensor table = torch::zeros({n, 2 * d}, torch::kFloat64);
  absl::Status decoded;
  std::vector<int64_t> rows;
  std::vector<torch::Tensor> images;
  auto flush = [&] {
    if (rows.empty()) return;
    const torch::Tensor x = torch::stack(images).to(torch::kFloat32).div_(255.0);
    auto [g, f] = Features(model, x);
    auto [g_flip, f_flip] = Features(model, x.flip({3}));
    auto unit = [](const torch::Tensor& t) {
      return t.to(torch::kFloat64) / t.to(torch::kFloat64).norm(2, 1, true).clamp_min(1e-12);
    };
    table.index_put_({torch::tensor(rows, torch::kInt64)},
                     torch::cat({unit(g) + unit(g_flip), unit(f) + unit(f_flip)}, 1));
    rows.clear();
    images.clear();
  };
  for (int64_t i = comm_.rank(); i < n && decoded.ok(); i += comm_.size()) {
    absl::StatusOr<torch::Tensor> image = DecodeImage(bin.images[i], options);
    if (!image.ok()) {
      decoded = absl::InvalidArgumentError(
          absl::StrCat(path, ": image ", i, ": ", image.status().message()));
      break;
    }
    rows.push_back(i);
    images.push_back(*image);
    if (static_cast<int64_t>(rows.size()) == kBatch) flush();
  }
  flush();
  if (!EveryRankOk(decoded, "bin set: ")) return std::nullopt;
  std::vector<torch::Tensor> t = {table};
  comm_.AllReduceSum(t);
  VerificationMetrics result;
  result.on_g = ConsecutivePairVerification(table.slice(1, 0, d), bin.same);
  result.on_f = ConsecutivePairVerification(table.slice(1, d, 2 * d), bin.same);
  result.pairs_used = result.pairs_listed = static_cast<int64_t>(bin.same.size());
  return result;
}

absl::Status Evaluator::LoadHoldout() {
  absl::StatusOr<Dataset> probes;
  if (!config_.evaluation.holdout_manifest.empty()) {
    absl::StatusOr<std::vector<std::string>> manifest =
        ReadManifest(config_.evaluation.holdout_manifest);
    probes = manifest.ok() ? LoadSource(config_.data, OptionsFor(config_), &*manifest)
                           : absl::StatusOr<Dataset>(manifest.status());
  } else {
    probes = LoadImageFolder(config_.evaluation.holdout_path, OptionsFor(config_));
  }
  if (!probes.ok()) return probes.status();
  // Relabel the probes with the training labels of the same identity names.
  std::unordered_map<std::string, int64_t> label_of;
  for (int64_t c = 0; c < training_set_.num_classes(); ++c)
    label_of[training_set_.class_names[c]] = c;
  std::vector<int64_t> keep, labels;
  for (int64_t i = 0; i < probes->size(); ++i) {
    auto it = label_of.find(probes->class_names[probes->labels[i].item<int64_t>()]);
    if (it == label_of.end()) continue;
    keep.push_back(i);
    labels.push_back(it->second);
  }
  holdout_ = std::make_unique<Dataset>();
  const torch::Tensor rows = torch::tensor(keep, torch::kInt64);
  holdout_->images = probes->images.index_select(0, rows);
  holdout_->labels = torch::tensor(labels, torch::kInt64);
  holdout_->class_names = training_set_.class_names;
  if (comm_.rank() == 0) {
    Log("evaluation: ", keep.size(), " hold-out probes of training identities (",
        probes->size() - static_cast<int64_t>(keep.size()), " of other identities left out)");
  }
  return absl::OkStatus();
}

std::optional<HoldoutMetrics> Evaluator::Holdout(FtlModel& model, Classifier& classifier,
                                                 const torch::Tensor& is_regular) {
  if (!holdout_ && !EveryRankOk(LoadHoldout(), "hold-out: ")) {
    holdout_.reset();  // read again at the next evaluation
    return std::nullopt;
  }
  const int64_t num_classes = training_set_.num_classes();
  const int64_t dim = config_.model.feature_dim;
  // Gallery: class sums of g and f over the training images (this rank's stripe), then summed.
  torch::Tensor sums = torch::zeros({2, num_classes, dim}, torch::kFloat64);
  torch::Tensor counts = torch::zeros({num_classes}, torch::kFloat64);
  const torch::Tensor local =
      torch::arange(comm_.rank(), training_set_.size(), comm_.size(), torch::kInt64);
  for (int64_t begin = 0; begin < local.size(0); begin += kBatch) {
    const torch::Tensor rows = local.slice(0, begin, begin + kBatch);
    const torch::Tensor y = training_set_.labels.index_select(0, rows);
    const auto [g, f] = Features(model, ImageBatch(training_set_, rows));
    sums[0].index_add_(0, y, g.to(torch::kFloat64));
    sums[1].index_add_(0, y, f.to(torch::kFloat64));
    counts.index_add_(0, y, torch::ones({y.size(0)}, torch::kFloat64));
  }
  std::vector<torch::Tensor> gallery = {sums, counts};
  comm_.AllReduceSum(gallery);
  const torch::Tensor has_gallery = counts > 0;
  const torch::Tensor centers = sums / counts.clamp_min(1.0).view({1, num_classes, 1});
  // Probes: this rank's stripe; hits and totals summed.
  torch::Tensor tally =
      torch::zeros({2, 4}, torch::kFloat64);  // per space: reg hits, reg n, ur hits, ur n
  // Per probe: classifier confidence (max softmax), correct, is UR -- for Coverage@Precision.
  torch::Tensor confidence = torch::zeros({holdout_->size(), 3}, torch::kFloat64);
  const torch::Tensor probe_rows =
      torch::arange(comm_.rank(), holdout_->size(), comm_.size(), torch::kInt64);
  // As many classifier calls on every rank (a sharded classifier's are collectives): rank 0's
  // stripe is the longest; a rank past the end of its own passes no rows.
  const int64_t calls =
      ((holdout_->size() + comm_.size() - 1) / comm_.size() + kBatch - 1) / kBatch;
  for (int64_t call = 0; call < calls; ++call) {
    const int64_t begin = call * kBatch;
    if (begin >= probe_rows.size(0)) {
      classifier.Predict(torch::empty({0, dim}, device_));
      continue;
    }
    const torch::Tensor rows = probe_rows.slice(0, begin, begin + kBatch);
    const torch::Tensor y = holdout_->labels.index_select(0, rows);
    const auto [g, f] = Features(model, ImageBatch(*holdout_, rows));
    {
      torch::NoGradGuard no_grad;
      // f comes back on the host; the classifier lives on device_.
      const ClassPrediction prediction = classifier.Predict(f.to(device_));
      const torch::Tensor p = prediction.probability.cpu();
      const torch::Tensor predicted = prediction.label.cpu();
      const torch::Tensor ur = is_regular.index_select(0, y).logical_not();
      confidence.index_put_(
          {rows}, torch::stack({p.to(torch::kFloat64), (predicted == y).to(torch::kFloat64),
                                ur.to(torch::kFloat64)},
                               1));
    }
    int space = 0;
    for (const torch::Tensor& features : {g, f}) {
      const Rank1Result r =
          NearestCenterRank1FromCenters(centers[space], has_gallery, features, y, is_regular);
      tally[space] +=
          torch::tensor({static_cast<double>(r.regular_hits), static_cast<double>(r.regular_probes),
                         static_cast<double>(r.ur_hits), static_cast<double>(r.ur_probes)},
                        torch::kFloat64);
      ++space;
    }
  }
  std::vector<torch::Tensor> t = {tally, confidence};
  comm_.AllReduceSum(t);
  std::vector<double> ur_confidence;
  std::vector<bool> ur_correct;
  for (int64_t i = 0; i < confidence.size(0); ++i) {
    if (confidence[i][2].item<double>() < 0.5) continue;
    ur_confidence.push_back(confidence[i][0].item<double>());
    ur_correct.push_back(confidence[i][1].item<double>() > 0.5);
  }
  HoldoutMetrics result;
  result.probes = holdout_->size();
  if (!ur_confidence.empty()) {
    result.coverage_p99_ur = CoverageAtPrecision(ur_confidence, ur_correct, 0.99);
    result.top1_ur_classifier =
        static_cast<double>(std::count(ur_correct.begin(), ur_correct.end(), true)) /
        ur_correct.size();
  }
  auto share = [](const torch::Tensor& hits_and_total, int at) -> std::optional<double> {
    const double total = hits_and_total[at + 1].item<double>();
    if (total <= 0) return std::nullopt;
    return hits_and_total[at].item<double>() / total;
  };
  result.rank1_regular_g = share(tally[0], 0);
  result.rank1_ur_g = share(tally[0], 2);
  result.rank1_regular_f = share(tally[1], 0);
  result.rank1_ur_f = share(tally[1], 2);
  return result;
}

}  // namespace ftl
