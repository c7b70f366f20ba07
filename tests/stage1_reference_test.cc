// The trainer's stage 1 and UpdateStats against hand-written references: a stage-1 iteration as
// three manual Adam steps on Eq. 7's batches, and the statistics as a loop over the model's own
// outputs for each image and its flip. These fail for a stage 1 that transfers f instead of g,
// swaps y_r and y_u, offsets by c[y_u], skips the transferred batch, or an UpdateStats that flips
// the wrong axis (docs/experiments.md lists the mutations run).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <vector>

#include "common/comm/communicator.h"
#include "common/data/sampler.h"
#include "common/ftl/transfer.h"
#include "common/train/trainer.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;  // torch::optim::Adam's defaults

// Adam written out (Kingma & Ba, with bias correction as torch::optim::Adam does), one state per
// parameter, shared by the three steps of a stage-1 iteration as the trainer's one optimizer is.
class NaiveAdam {
 public:
  NaiveAdam(std::vector<torch::Tensor> params, double lr) : params_(std::move(params)), lr_(lr) {
    for (const torch::Tensor& p : params_) {
      m_.push_back(torch::zeros_like(p, torch::kFloat64));
      v_.push_back(torch::zeros_like(p, torch::kFloat64));
    }
  }

  void Step(const torch::Tensor& loss) {
    for (torch::Tensor& p : params_) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
    loss.backward();
    ++t_;
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor g = params_[i].grad().to(torch::kFloat64);
      m_[i] = kBeta1 * m_[i] + (1 - kBeta1) * g;
      v_[i] = kBeta2 * v_[i] + (1 - kBeta2) * g * g;
      const torch::Tensor m_hat = m_[i] / (1 - std::pow(kBeta1, t_));
      const torch::Tensor v_hat = v_[i] / (1 - std::pow(kBeta2, t_));
      params_[i].sub_((lr_ * m_hat / (v_hat.sqrt() + kEps)).to(params_[i].dtype()));
    }
  }

 private:
  std::vector<torch::Tensor> params_, m_, v_;
  double lr_;
  int t_ = 0;
};

// Eq. 2 + alpha * Eq. 3 (mean reduction) written out: -z_y + log sum_j exp z_j, and mean z^2.
torch::Tensor NaiveClassifierLoss(const torch::Tensor& logits, const torch::Tensor& labels,
                                  double alpha) {
  torch::Tensor nll = torch::zeros({}, logits.options());
  for (int64_t i = 0; i < logits.size(0); ++i) {
    const torch::Tensor z = logits[i];
    nll = nll - z[labels[i].item<int64_t>()] + z.exp().sum().log();
  }
  return nll / logits.size(0) + alpha * logits.pow(2).sum() / logits.numel();
}

// Eq. 7 one sample at a time: c[y_u] + Q (Q^T (g_r - c[y_r])).
torch::Tensor NaiveTransfer(const torch::Tensor& g_r, const torch::Tensor& y_r,
                            const torch::Tensor& y_u, const torch::Tensor& centers,
                            const torch::Tensor& q) {
  std::vector<torch::Tensor> rows;
  for (int64_t k = 0; k < g_r.size(0); ++k) {
    const torch::Tensor offset = g_r[k] - centers[y_r[k].item<int64_t>()];
    rows.push_back(centers[y_u[k].item<int64_t>()] + q.mv(q.t().mv(offset)));
  }
  return torch::stack(rows);
}

// The controls one sample at a time: c[y_u], and c[y_u] + sum_j sqrt(lambda_j) z_kj Q_j.
torch::Tensor NaiveCenters(const torch::Tensor& y_u, const torch::Tensor& centers) {
  std::vector<torch::Tensor> rows;
  for (int64_t k = 0; k < y_u.size(0); ++k) rows.push_back(centers[y_u[k].item<int64_t>()]);
  return torch::stack(rows);
}
torch::Tensor NaiveCenterNoise(const torch::Tensor& y_u, const torch::Tensor& centers,
                               const torch::Tensor& q, const torch::Tensor& variances,
                               const torch::Tensor& z) {
  std::vector<torch::Tensor> rows;
  for (int64_t k = 0; k < y_u.size(0); ++k) {
    torch::Tensor row = centers[y_u[k].item<int64_t>()].clone();
    for (int64_t j = 0; j < q.size(1); ++j) {
      const double scale = std::sqrt(std::max(0.0, variances[j].item<double>()));
      row = row + q.select(1, j) * (scale * z[k][j].item<double>());
    }
    rows.push_back(row);
  }
  return torch::stack(rows);
}

torch::Tensor Images(const Dataset& data, const torch::Tensor& rows) {
  return data.images.index_select(0, rows).to(torch::kFloat32).div(255.0);
}

class Stage1ReferenceTest : public ::testing::TestWithParam<ThirdBatch> {
 protected:
  Stage1ReferenceTest()
      : config_(testing::TinyJobConfig()),
        data_(testing::SyntheticDataset({12, 10, 9, 3, 2, 2})),
        comm_(CreateLocalCommunicator()) {
    config_.loss.reg = 0.5;  // large enough that a wrong m-L2 reduction changes the result
    config_.runtime.output_dir = ::testing::TempDir();
  }

  // What stage 1 draws at its first step, from the samplers' documented streams, encoded by the
  // reference model's (frozen) encoder.
  struct FirstBatches {
    torch::Tensor y_r, y_u, g_r, g_u;
  };
  FirstBatches DrawFirstBatches(Trainer& reference) const {
    const FtlStatistics& stats = reference.statistics();
    const int64_t batch = config_.training.batch_size;
    EpochSampler hard(stats.hard_mask.nonzero().squeeze(1), config_.training.seed,
                      SampleStream::kStageOneHard);
    const ClassBalancedSampler ur(data_.labels, {3, 4, 5}, config_.training.seed,
                                  SampleStream::kStageOneUr);
    const torch::Tensor hard_rows = hard.Batch(0, batch), ur_rows = ur.Batch(0, batch);
    FirstBatches b;
    b.y_r = data_.labels.index_select(0, hard_rows);
    b.y_u = data_.labels.index_select(0, ur_rows);
    torch::NoGradGuard no_grad;
    b.g_r = reference.model()->enc->forward(Images(data_, hard_rows));
    b.g_u = reference.model()->enc->forward(Images(data_, ur_rows));
    return b;
  }

  // R's and FC's parameters of `model`, made trainable for the hand-written steps.
  static std::vector<torch::Tensor> FilterAndClassifier(Trainer& trainer) {
    std::vector<torch::Tensor> params = trainer.model()->filter->parameters();
    params.push_back(testing::ClassifierWeight(trainer.classifier()));
    for (torch::Tensor& p : params) p.set_requires_grad(true);
    return params;
  }

  // The trainer's R and FC against the hand-stepped reference's.
  static void ExpectSameFilterAndClassifier(Trainer& trainer, Trainer& expected) {
    auto named = [](Trainer& t) {
      auto all = t.model()->named_parameters();
      for (const auto& p : t.classifier().named_parameters()) all.insert(p.key(), p.value());
      return all;
    };
    const auto ours = named(trainer);
    int compared = 0;
    for (const auto& item : named(expected)) {
      if (item.key().rfind("filter.", 0) != 0 && item.key().rfind("classifier.", 0) != 0) continue;
      EXPECT_TRUE(torch::allclose(ours[item.key()], item.value(), 1e-5, 1e-5))
          << item.key() << ": max difference "
          << (ours[item.key()] - item.value()).abs().max().item<double>();
      ++compared;
    }
    EXPECT_GT(compared, 2);
  }

  JobConfig config_;
  Dataset data_;
  std::unique_ptr<Communicator> comm_;
};

// One iteration of the trainer's stage 1 equals three hand-written Adam steps on (1) the hard
// regular batch, (2) the UR batch and (3) the transferred batch g~ = c[y_u] + Q Q^T (Enc(x_r) -
// c[y_r]) labelled y_u; or, for the controls of training.stage1_third_batch, (3) a second real UR
// batch, the UR centres, the centres plus V's top-k Gaussian noise, Eq. 7 on a random basis of
// the same rank; without a third batch (none), steps (1) and (2) only.
TEST_P(Stage1ReferenceTest, OneIterationEqualsManualAdamStepsOnEquationSeven) {
  const ThirdBatch third = GetParam();
  config_.training.stage1_third_batch = third;
  Trainer trainer(config_, data_, *comm_);
  Trainer reference(config_, data_, *comm_);  // same seed: the same initial weights
  for (Trainer* t : {&trainer, &reference}) {
    t->Pretrain(2);
    t->UpdateStats();
  }
  const FtlStatistics& stats = reference.statistics();
  const int64_t k = stats.basis.size(1);
  ASSERT_GT(k, 0);
  ASSERT_LT(k, config_.model.feature_dim) << "a full basis would hide a wrong offset";

  const auto [y_r, y_u, g_r, g_u] = DrawFirstBatches(reference);
  ASSERT_FALSE(torch::equal(y_r, y_u));

  FtlModel& m = reference.model();
  NaiveAdam adam(FilterAndClassifier(reference), config_.training.stage1_lr);
  const torch::Tensor w = testing::ClassifierWeight(reference.classifier());
  auto logits_of = [&m, &w](const torch::Tensor& g) {
    return torch::mm(m->filter->forward(g), w.t());  // W f per row
  };
  adam.Step(NaiveClassifierLoss(logits_of(g_r), y_r, config_.loss.reg));
  adam.Step(NaiveClassifierLoss(logits_of(g_u), y_u, config_.loss.reg));
  const int64_t batch = config_.training.batch_size;
  const uint64_t seed = config_.training.seed;
  torch::Tensor g_third, y_third = y_u;
  switch (third) {
    case ThirdBatch::kNone:
      break;
    case ThirdBatch::kTransfer:
      g_third = NaiveTransfer(g_r, y_r, y_u, stats.centers, stats.basis);
      break;
    case ThirdBatch::kRandomBasis: {
      const torch::Tensor p = RandomOrthonormalBasis(seed, 0, config_.model.feature_dim, k);
      ASSERT_FALSE(torch::allclose(p.abs(), stats.basis.abs(), 1e-3, 1e-3));
      g_third = NaiveTransfer(g_r, y_r, y_u, stats.centers, p);
      break;
    }
    case ThirdBatch::kCenter:
      g_third = NaiveCenters(y_u, stats.centers);
      break;
    case ThirdBatch::kCenterNoise: {
      // The noise has the spread real regular samples have: V's eigenvalues over the 31 regular
      // samples (12 + 10 + 9), checked here against those samples' own offsets along Q.
      const torch::Tensor variances = stats.eigenvalues.to(torch::kFloat64) / 31.0;
      const torch::Tensor regular_rows = (data_.labels < 3).nonzero().squeeze(1);
      ASSERT_EQ(regular_rows.size(0), 31);
      torch::Tensor offsets;
      {
        torch::NoGradGuard no_grad;
        offsets = (m->enc->forward(Images(data_, regular_rows)) -
                   stats.centers.index_select(0, data_.labels.index_select(0, regular_rows)))
                      .to(torch::kFloat64);
      }
      const torch::Tensor along_q = offsets.mm(stats.basis.to(torch::kFloat64));  // [31, k]
      EXPECT_TRUE(torch::allclose(along_q.pow(2).mean(0), variances.slice(0, 0, k), 1e-3, 1e-6))
          << along_q.pow(2).mean(0) << " vs " << variances.slice(0, 0, k);
      g_third = NaiveCenterNoise(y_u, stats.centers, stats.basis, variances,
                                 PortableNormals(seed, kCenterNoiseTag, 0, batch, k));
      break;
    }
    case ThirdBatch::kUr: {
      const ClassBalancedSampler second(data_.labels, {3, 4, 5}, seed,
                                        SampleStream::kStageOneSecondUr);
      const torch::Tensor rows = second.Batch(0, batch);
      y_third = data_.labels.index_select(0, rows);
      ASSERT_FALSE(torch::equal(y_third, y_u)) << "the second UR batch repeats the first";
      torch::NoGradGuard no_grad;
      g_third = m->enc->forward(Images(data_, rows));
      break;
    }
  }
  if (g_third.defined())
    adam.Step(NaiveClassifierLoss(logits_of(g_third), y_third, config_.loss.reg));

  const std::string before_csv = config_.runtime.output_dir + "/weight_norms_stage1_r0_before.csv";
  const std::string after_csv = config_.runtime.output_dir + "/weight_norms_stage1_r0_after.csv";
  std::filesystem::remove(before_csv);
  std::filesystem::remove(after_csv);
  const PhaseReport report = trainer.StageOne(1, 0);
  // Fig. 1b per class before and after: a header and one row per class in each.
  for (const std::string& csv : {before_csv, after_csv}) {
    std::ifstream in(csv);
    int lines = 0;
    for (std::string line; std::getline(in, line);) ++lines;
    EXPECT_EQ(lines, 1 + data_.num_classes()) << csv;
  }
  EXPECT_EQ(report.losses.count("sfmx_transfer"), third == ThirdBatch::kTransfer ? 1u : 0u);
  EXPECT_EQ(report.losses.count("sfmx_third"),
            third != ThirdBatch::kTransfer && third != ThirdBatch::kNone ? 1u : 0u);
  EXPECT_EQ(report.images, (g_third.defined() ? 3 : 2) * batch);
  ExpectSameFilterAndClassifier(trainer, reference);
}

INSTANTIATE_TEST_SUITE_P(EveryThirdBatch, Stage1ReferenceTest,
                         ::testing::Values(ThirdBatch::kTransfer, ThirdBatch::kNone,
                                           ThirdBatch::kUr, ThirdBatch::kCenter,
                                           ThirdBatch::kCenterNoise, ThirdBatch::kRandomBasis),
                         [](const auto& info) { return std::string(ThirdBatchName(info.param)); });

// SGD with momentum written out (torch.optim.SGD: buf = grad on the first step, then
// momentum buf + grad; p -= lr buf), no weight decay.
class NaiveSgd {
 public:
  NaiveSgd(std::vector<torch::Tensor> params, double lr, double momentum)
      : params_(std::move(params)), lr_(lr), momentum_(momentum), buf_(params_.size()) {}
  void Step(const torch::Tensor& loss) {
    for (torch::Tensor& p : params_) p.mutable_grad() = torch::Tensor();
    loss.backward();
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor grad = params_[i].grad();
      buf_[i] = buf_[i].defined() ? buf_[i] * momentum_ + grad : grad.clone();
      params_[i].sub_(buf_[i] * lr_);
    }
  }

 private:
  std::vector<torch::Tensor> params_;
  double lr_, momentum_;
  std::vector<torch::Tensor> buf_;
};

// ArcFace's loss one sample at a time from the angle: theta_j = acos(f.W_j / |f||W_j|); the
// target's logit s cos(theta_y + m) while theta_y + m < pi, else s (cos theta_y - m sin(pi - m)).
torch::Tensor NaiveArcFaceLoss(const torch::Tensor& f, const torch::Tensor& w,
                               const torch::Tensor& labels, double s, double m) {
  torch::Tensor nll = torch::zeros({}, f.options());
  for (int64_t i = 0; i < f.size(0); ++i) {
    const int64_t y = labels[i].item<int64_t>();
    std::vector<torch::Tensor> z;
    for (int64_t j = 0; j < w.size(0); ++j) {
      const torch::Tensor c = f[i].dot(w[j]) / (f[i].norm() * w[j].norm());
      if (j != y) {
        z.push_back(c * s);
        continue;
      }
      const torch::Tensor theta = c.clamp(-1 + 1e-7, 1 - 1e-7).acos();
      z.push_back(theta.item<double>() + m < M_PI ? (theta + m).cos() * s
                                                  : (c - m * std::sin(M_PI - m)) * s);
    }
    const torch::Tensor row = torch::stack(z);
    nll = nll - row[y] + row.exp().sum().log();
  }
  return nll / f.size(0);
}

// Stage 1 with a margin head and SGD: the hard regular, UR and transferred batches each go
// through the ArcFace head, three momentum-SGD steps written out.
TEST_F(Stage1ReferenceTest, OneIterationWithArcFaceAndSgdEqualsManualSteps) {
  config_.loss.reg = 0;
  config_.loss.head.kind = HeadKind::kArcFace;
  config_.loss.head.scale = 8;
  config_.loss.head.m2 = 0.4;
  config_.training.stage1_optimizer.kind = OptimizerKind::kSgd;
  config_.training.stage1_optimizer.momentum = 0.9;
  config_.training.stage1_lr = 0.05;
  Trainer trainer(config_, data_, *comm_);
  Trainer reference(config_, data_, *comm_);
  for (Trainer* t : {&trainer, &reference}) {
    t->Pretrain(2);
    t->UpdateStats();
  }
  const FtlStatistics& stats = reference.statistics();
  const auto [y_r, y_u, g_r, g_u] = DrawFirstBatches(reference);
  FtlModel& m = reference.model();
  NaiveSgd sgd(FilterAndClassifier(reference), 0.05, 0.9);
  const torch::Tensor w = testing::ClassifierWeight(reference.classifier());
  auto loss_of = [&](const torch::Tensor& g, const torch::Tensor& y) {
    return NaiveArcFaceLoss(m->filter->forward(g), w, y, 8, 0.4);
  };
  sgd.Step(loss_of(g_r, y_r));
  sgd.Step(loss_of(g_u, y_u));
  sgd.Step(loss_of(NaiveTransfer(g_r, y_r, y_u, stats.centers, stats.basis), y_u));

  trainer.StageOne(1, 0);
  ExpectSameFilterAndClassifier(trainer, reference);
}

// UpdateStats against a loop over the model's own outputs, one image at a time: g = Enc(x) and
// Enc(x flipped left-right), Eq. 5's centres over samples whose yaw passes |p| + |-p| <= tau (an
// unknown yaw, NaN, does not pass; a class where none passes uses all its samples), d_i, V's
// spectrum and the hard list over regular classes.
TEST(UpdateStatsReferenceTest, EqualsLoopOverTheModelsOutputsWithTheYawFilter) {
  JobConfig config = testing::TinyJobConfig();
  config.data.yaw_tau = 60;
  Dataset data = testing::SyntheticDataset({12, 10, 9, 3, 2, 2});
  // Asymmetric pictures, so that a flip along the wrong axis gives other features.
  data.images.select(3, 0).fill_(250);
  torch::manual_seed(5);
  data.yaw = torch::randn({data.size()}) * 10;            // nearly all within tau / 2 = 30 degrees
  data.yaw.slice(0, 0, 4).fill_(75.0f);                   // class 0: four too far
  data.yaw[5] = std::numeric_limits<float>::quiet_NaN();  // class 0: unknown
  data.yaw.slice(0, 22, 31).fill_(80.0f);                 // class 2: none passes
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  Trainer trainer(config, data, *comm);
  trainer.Pretrain(2);
  const PhaseReport report = trainer.UpdateStats();
  const FtlStatistics& stats = trainer.statistics();
  EXPECT_EQ(report.metrics.at("yaw_fallback_classes"), 1);

  FtlModel& m = trainer.model();
  m->eval();
  torch::NoGradGuard no_grad;
  const int64_t n = data.size(), classes = data.num_classes(), dim = config.model.feature_dim;
  std::vector<torch::Tensor> g(n), g_flip(n);
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor x =
        data.images[i].unsqueeze(0).to(torch::kFloat64).div(255.0).to(torch::kFloat32);
    g[i] = m->enc->forward(x)[0].to(torch::kFloat64);
    g_flip[i] = m->enc->forward(x.flip({3}))[0].to(torch::kFloat64);  // left-right: the width axis
  }
  auto label = [&data](int64_t i) { return data.labels[i].item<int64_t>(); };
  auto passes = [&](int64_t i) {
    return std::abs(data.yaw[i].item<double>()) * 2 <= config.data.yaw_tau;
  };
  std::vector<torch::Tensor> centers(classes);
  for (int64_t c = 0; c < classes; ++c) {
    bool any_pass = false;
    for (int64_t i = 0; i < n; ++i) any_pass |= label(i) == c && passes(i);
    torch::Tensor sum = torch::zeros({dim}, torch::kFloat64);
    int count = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (label(i) != c || (any_pass && !passes(i))) continue;
      sum += g[i] + g_flip[i];
      count += 2;
    }
    centers[c] = sum / count;
  }
  const torch::Tensor expected_centers = torch::stack(centers);
  EXPECT_TRUE(torch::allclose(stats.centers.to(torch::kFloat64), expected_centers, 1e-4, 1e-5))
      << (stats.centers.to(torch::kFloat64) - expected_centers).abs().max().item<double>();
  // The filter mattered: class 0's centre over all its samples is elsewhere.
  torch::Tensor unfiltered = torch::zeros({dim}, torch::kFloat64);
  for (int64_t i = 0; i < 12; ++i) unfiltered += (g[i] + g_flip[i]) / 24;
  EXPECT_GT((unfiltered - expected_centers[0]).abs().max().item<double>(), 1e-4);

  const torch::Tensor regular = trainer.regular_classes();
  torch::Tensor v = torch::zeros({dim, dim}, torch::kFloat64);
  std::vector<double> distance_sum(classes, 0.0);
  std::vector<int> count(classes, 0);
  for (int64_t i = 0; i < n; ++i) {
    if (!regular[label(i)].item<bool>()) continue;
    const torch::Tensor offset = g[i] - centers[label(i)];
    v += torch::outer(offset, offset);
    distance_sum[label(i)] += offset.norm().item<double>();
    ++count[label(i)];
  }
  for (int64_t c = 0; c < classes; ++c) {
    const double d = count[c] > 0 ? distance_sum[c] / count[c] : 0.0;
    EXPECT_NEAR(stats.mean_distances[c].item<double>(), d, 1e-4) << "class " << c;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = label(i);
    const bool hard = regular[c].item<bool>() &&
                      (g[i] - centers[c]).norm().item<double>() > distance_sum[c] / count[c];
    EXPECT_EQ(stats.hard_mask[i].item<bool>(), hard) << "sample " << i;
  }
  const torch::Tensor eigenvalues = std::get<0>(torch::linalg_eigh(v)).flip({0});
  EXPECT_TRUE(torch::allclose(stats.eigenvalues.to(torch::kFloat64), eigenvalues, 1e-3, 1e-4))
      << stats.eigenvalues << eigenvalues;
}

// training.init_checkpoint: the model weights and sampler positions of another run, fresh
// optimizers and statistics; a checkpoint made for other data or a missing file is refused with
// the reason.
TEST(InitializeFromTest, TakesWeightsAndSamplerPositionsButFreshOptimizers) {
  JobConfig config = testing::TinyJobConfig();
  config.runtime.output_dir = ::testing::TempDir();
  const Dataset data = testing::SyntheticDataset({12, 10, 9, 3, 2, 2});
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  const std::string path = ::testing::TempDir() + "/init_from.ftlckpt";
  Trainer trained(config, data, *comm);
  trained.Pretrain(3);
  trained.UpdateStats();
  ASSERT_TRUE(trained.SaveCheckpoint(path, 2).ok());

  JobConfig other_seed = config;
  other_seed.training.seed =
      99;  // another random initialisation; samplers keep config's seed below
  Trainer fresh(other_seed, data, *comm);
  ASSERT_TRUE(fresh.InitializeFrom(path).ok());
  const auto a = trained.model()->named_parameters();
  for (const auto& item : fresh.model()->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), a[item.key()])) << item.key();
  }
  EXPECT_FALSE(fresh.statistics().valid) << "statistics are not taken over";

  // One more pre-training step from the same weights. The initialised trainer (fresh Adam, batch
  // 3 of the sampler) differs from a resumed one (Adam's moments loaded, batch 3) and from one
  // given the same weights by hand (fresh Adam, batch 0 again).
  Trainer resumed(config, data, *comm);
  ASSERT_TRUE(resumed.LoadCheckpoint(path).ok());
  Trainer initialised(config, data, *comm);
  ASSERT_TRUE(initialised.InitializeFrom(path).ok());
  Trainer copied(config, data, *comm);
  {
    torch::NoGradGuard no_grad;
    for (auto& item : copied.model()->named_parameters()) item.value().copy_(a[item.key()]);
  }
  for (Trainer* t : {&resumed, &initialised, &copied}) t->Pretrain(1);
  auto differ = [](Trainer& x, Trainer& y) {
    const auto px = x.model()->named_parameters();
    for (const auto& item : y.model()->named_parameters()) {
      if (!torch::allclose(item.value(), px[item.key()], 1e-6, 1e-7)) return true;
    }
    return false;
  };
  EXPECT_TRUE(differ(initialised, resumed)) << "the initialised trainer took over Adam's state";
  EXPECT_TRUE(differ(initialised, copied)) << "the initialised trainer replayed batch 0";

  const Dataset other_data = testing::SyntheticDataset({12, 10, 9, 3, 2});
  Trainer other(config, other_data, *comm);
  const absl::Status refused = other.InitializeFrom(path);
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(refused.message().find("another job"), std::string::npos) << refused;
  EXPECT_EQ(other.InitializeFrom(::testing::TempDir() + "/missing.ftlckpt").code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ftl
