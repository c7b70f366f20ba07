// Run under `mpirun -np 2`: the distributed computations equal the single-process ones.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <opencv2/imgcodecs.hpp>
#include <thread>

#include "common/classifier/class_partition.h"
#include "common/classifier/distributed_ops.h"
#include "common/classifier/replicated_classifier.h"
#include "common/classifier/sharded_classifier.h"
#include "common/comm/mpi_communicator.h"
#include "common/data/image_stream.h"
#include "common/train/trainer.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

Communicator* g_comm = nullptr;

Dataset DataWithYaw() {
  Dataset d = testing::SyntheticDataset({14, 11, 9, 4, 3, 2, 1});
  torch::manual_seed(99);
  d.yaw = torch::randn({d.size()}) * 40;
  return d;
}

// The network's and the classifier's parameters by name, the classifier's rows of every class
// (a sharded classifier's gathered: a collective when `t` is on g_comm).
torch::OrderedDict<std::string, torch::Tensor> AllParameters(Trainer& t) {
  auto all = t.model()->named_parameters();
  for (const auto& p : t.classifier().named_parameters())
    all.insert(p.key(), t.classifier().EveryClassRows(p.value().detach()));
  return all;
}

// `to` holds the whole classifier (replicated).
void CopyParameters(Trainer& from, Trainer& to) {
  ASSERT_TRUE(to.classifier().averages_gradients());
  torch::NoGradGuard no_grad;
  const auto src = AllParameters(from);
  auto dst = AllParameters(to);
  ASSERT_EQ(src.size(), dst.size());
  for (const auto& item : src) dst[item.key()].copy_(item.value());
}

void ExpectSameParameters(Trainer& a, Trainer& b, double tolerance) {
  const auto pa = AllParameters(a);
  auto pb = AllParameters(b);
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) {
    EXPECT_TRUE(torch::allclose(item.value(), pb[item.key()], tolerance, tolerance))
        << item.key() << " max diff " << (item.value() - pb[item.key()]).abs().max().item<double>();
  }
}

void ExpectSameLosses(const PhaseReport& a, const PhaseReport& b, double tolerance) {
  ASSERT_EQ(a.losses.size(), b.losses.size()) << a.phase;
  for (const auto& [name, value] : a.losses) {
    ASSERT_TRUE(b.losses.count(name)) << a.phase << " " << name;
    EXPECT_NEAR(value, b.losses.at(name), tolerance * std::max(1.0, std::abs(value)))
        << a.phase << " " << name;
  }
}

TEST(DistributedTest, RunsOnTwoRanks) { ASSERT_EQ(g_comm->size(), 2); }

TEST(DistributedTest, CollectivesSumAndBroadcast) {
  std::vector<torch::Tensor> t = {torch::full({3}, g_comm->rank() + 1.0),
                                  torch::full({2}, int64_t{g_comm->rank() + 10})};
  g_comm->AllReduceSum(t);
  EXPECT_TRUE(torch::equal(t[0], torch::full({3}, 3.0f)));
  EXPECT_TRUE(torch::equal(t[1], torch::full({2}, int64_t{21})));
  std::vector<torch::Tensor> b = {torch::full({4}, g_comm->rank() * 1.0 + 5)};
  g_comm->Broadcast(b, 1);
  EXPECT_TRUE(torch::equal(b[0], torch::full({4}, 6.0f)));
  std::string bytes = g_comm->rank() == 0 ? "from rank zero" : "";
  g_comm->BroadcastBytes(bytes, 0);
  EXPECT_EQ(bytes, "from rank zero");
}

// What rank `r` holds in the collective tests below: the same on every rank that asks, so each
// rank computes the naive reference (torch::cat, +, torch::max over every rank's tensor) itself.
torch::Tensor TensorOfRank(int r, std::vector<int64_t> shape, torch::ScalarType type) {
  torch::manual_seed(1000 + r);
  torch::Tensor t = torch::randn(shape, torch::kFloat64) * 100;
  return type == torch::kInt64 ? t.round().to(torch::kInt64) : t.to(type);
}

TEST(DistributedTest, AllGatherReduceScatterAndMaxEqualTheNaiveReference) {
  const int size = g_comm->size(), rank = g_comm->rank();
  // Small; int64; and over 4 MiB per rank, so that MPI gets it in several chunks.
  const std::vector<std::pair<std::vector<int64_t>, torch::ScalarType>> cases = {
      {{5, 3}, torch::kFloat32}, {{4}, torch::kInt64}, {{1100, 1024}, torch::kFloat32}};
  for (const auto& [shape, type] : cases) {
    std::vector<torch::Tensor> every;
    for (int r = 0; r < size; ++r) every.push_back(TensorOfRank(r, shape, type));
    const torch::Tensor mine = every[rank].clone();
    EXPECT_TRUE(torch::equal(g_comm->AllGather(mine), torch::cat(every)))
        << c10::IntArrayRef(shape);
    EXPECT_TRUE(torch::equal(mine, every[rank]));  // the input is left alone

    std::vector<int64_t> full_shape = shape;
    full_shape[0] *= size;
    torch::Tensor sum = torch::zeros(full_shape, every[0].options());
    std::vector<torch::Tensor> fulls;
    for (int r = 0; r < size; ++r) {
      fulls.push_back(TensorOfRank(r + 50, full_shape, type));
      sum += fulls.back();
    }
    const torch::Tensor block = g_comm->ReduceScatterSum(fulls[rank]);
    EXPECT_TRUE(torch::equal(block, sum.narrow(0, rank * shape[0], shape[0])))
        << c10::IntArrayRef(shape);

    std::vector<torch::Tensor> maxed = {mine.clone()};
    g_comm->AllReduceMax(maxed);
    torch::Tensor expected = every[0];
    for (int r = 1; r < size; ++r) expected = torch::max(expected, every[r]);
    EXPECT_TRUE(torch::equal(maxed[0], expected)) << c10::IntArrayRef(shape);
  }
  // A non-contiguous input is gathered by its values.
  const torch::Tensor transposed = TensorOfRank(rank, {3, 4}, torch::kFloat64).t();
  std::vector<torch::Tensor> every;
  for (int r = 0; r < size; ++r) every.push_back(TensorOfRank(r, {3, 4}, torch::kFloat64).t());
  EXPECT_TRUE(torch::equal(g_comm->AllGather(transposed), torch::cat(every)));
}

// The sharded classifier's losses (classifier/distributed_ops.h) on R ranks, each holding the
// rows of its classes (7 classes: 4 + 3 on 2 ranks, 3 + 2 + 2 on 3), against a naive loop over the
// whole batch and every class on one process: the same loss on every rank, the gradient of each
// rank's weight rows, and R times the gradient of its feature rows (GatherRows' factor, undone by
// the data-parallel average).
TEST(DistributedTest, ShardedSoftmaxAndMetricL2EqualANaiveLoopOverAllClasses) {
  const int size = g_comm->size(), rank = g_comm->rank();
  const int64_t batch = 3, dim = 5, classes = 7;
  torch::manual_seed(21);  // the same draws on every rank
  const torch::Tensor features = torch::randn({size * batch, dim}, torch::kFloat64) * 2;
  const torch::Tensor weights = torch::randn({classes, dim}, torch::kFloat64);
  // Every class of some rank's shard among the labels, and repeats.
  const torch::Tensor labels = torch::randint(0, classes, {size * batch}, torch::kInt64);
  const torch::Tensor class_weights = torch::rand({classes}, torch::kFloat64) + 0.5;
  const ClassRange range = ClassRangeOf(classes, rank, size);

  for (const bool weighted : {false, true}) {
    const torch::Tensor f_local =
        features.slice(0, rank * batch, (rank + 1) * batch).clone().requires_grad_(true);
    const torch::Tensor w_local =
        weights.slice(0, range.start, range.end()).clone().requires_grad_(true);
    const torch::Tensor z = torch::mm(GatherRows(f_local, *g_comm), w_local.t());
    const torch::Tensor loss =
        ShardedSoftmaxLoss(z, labels, range, *g_comm, weighted ? class_weights : torch::Tensor()) +
        0.3 * ShardedMetricL2Loss(z, classes, Reduction::kMean, *g_comm) +
        0.1 * ShardedMetricL2Loss(z, classes, Reduction::kSum, *g_comm);
    loss.backward();

    const torch::Tensor f_all = features.clone().requires_grad_(true);
    const torch::Tensor w_all = weights.clone().requires_grad_(true);
    torch::Tensor naive = torch::zeros({}, torch::kFloat64);
    for (int64_t i = 0; i < size * batch; ++i) {
      const int64_t y = labels[i].item<int64_t>();
      torch::Tensor exp_sum = torch::zeros({}, torch::kFloat64), squares = exp_sum;
      for (int64_t j = 0; j < classes; ++j) {
        const torch::Tensor zij = f_all[i].dot(w_all[j]);
        exp_sum = exp_sum + zij.exp();
        squares = squares + zij * zij;
      }
      const double weight = weighted ? class_weights[y].item<double>() : 1.0;
      naive = naive + weight * (exp_sum.log() - f_all[i].dot(w_all[y])) +
              0.3 * squares / static_cast<double>(classes) + 0.1 * squares;
    }
    naive = naive / static_cast<double>(size * batch);
    naive.backward();

    EXPECT_NEAR(loss.item<double>(), naive.item<double>(), 1e-10) << "weighted " << weighted;
    const torch::Tensor every_loss = g_comm->AllGather(loss.detach().reshape({1}));
    EXPECT_EQ((every_loss.max() - every_loss.min()).item<double>(), 0.0);  // the same everywhere
    EXPECT_TRUE(torch::allclose(w_local.grad(), w_all.grad().slice(0, range.start, range.end()),
                                1e-9, 1e-11));
    EXPECT_TRUE(torch::allclose(
        f_local.grad(),
        f_all.grad().slice(0, rank * batch, (rank + 1) * batch) * static_cast<double>(size), 1e-9,
        1e-11));
  }
}

// The sharded classifier on R ranks against a replicated one holding the same W, on the global
// batch: the loss terms on every rank, each rank's rows' gradients and R times its features'
// (softmax + m-L2 with logit adjustment and the class-balanced loss; ArcFace), predictions, weight
// norms, the gathered checkpoint entry; and its initial rows do not depend on the rank count.
TEST(DistributedTest, ShardedClassifierEqualsAReplicatedOneOnTheGlobalBatch) {
  const int size = g_comm->size(), rank = g_comm->rank();
  const int64_t batch = 4, dim = 6, classes = 7;
  const torch::Tensor counts = torch::tensor({30, 2, 5, 1, 12, 3, 7}, torch::kInt64);
  LossWeights softmax;
  softmax.logit_adjust_tau = 0.8;
  softmax.class_balanced_beta = 0.9;
  LossWeights arcface;
  arcface.head.kind = HeadKind::kArcFace;
  arcface.head.scale = 16;
  arcface.head.m2 = 0.3;
  for (const LossWeights& loss : {softmax, arcface}) {
    ShardedClassifier sharded(dim, classes, loss, *g_comm, /*seed=*/5, counts);
    EXPECT_FALSE(sharded.averages_gradients());
    EXPECT_EQ(sharded.local_weight().size(0), ClassRangeOf(classes, rank, size).count);
    const auto whole = sharded.CheckpointTensors();
    ASSERT_EQ(whole.count("classifier.weight"), 1u);
    // The same rows on one rank: initialisation independent of R.
    std::unique_ptr<Communicator> alone = CreateLocalCommunicator();
    ShardedClassifier one(dim, classes, loss, *alone, 5, counts);
    EXPECT_TRUE(torch::equal(one.local_weight(), whole.at("classifier.weight")));
    ReplicatedClassifier replicated(dim, classes, loss, counts);
    ASSERT_TRUE(replicated.LoadCheckpointTensors(whole, "test").ok());

    torch::manual_seed(31);  // the same batch on every rank
    const torch::Tensor features = torch::randn({size * batch, dim}) * 3;
    const torch::Tensor labels = torch::randint(0, classes, {size * batch}, torch::kInt64);
    const torch::Tensor f_local =
        features.slice(0, rank * batch, (rank + 1) * batch).clone().requires_grad_(true);
    const ClassificationTerms terms =
        sharded.Losses(f_local, labels.slice(0, rank * batch, (rank + 1) * batch));
    const torch::Tensor f_all = features.clone().requires_grad_(true);
    const ClassificationTerms want = replicated.Losses(f_all, labels);
    EXPECT_NEAR(terms.sfmx.item<double>(), want.sfmx.item<double>(), 1e-5);
    ASSERT_EQ(terms.reg.defined(), want.reg.defined());
    torch::Tensor total = terms.sfmx, want_total = want.sfmx;
    if (want.reg.defined()) {
      EXPECT_NEAR(terms.reg.item<double>(), want.reg.item<double>(), 1e-4);
      total = total + 0.1 * terms.reg;
      want_total = want_total + 0.1 * want.reg;
    }
    total.backward();
    want_total.backward();
    const ClassRange range = sharded.range();
    EXPECT_TRUE(torch::allclose(sharded.local_weight().grad(),
                                replicated.weight().grad().slice(0, range.start, range.end()), 1e-4,
                                1e-6));
    EXPECT_TRUE(torch::allclose(f_local.grad(),
                                f_all.grad().slice(0, rank * batch, (rank + 1) * batch) * size,
                                1e-4, 1e-6));

    const ClassPrediction predicted = sharded.Predict(f_local.detach());
    const ClassPrediction expected = replicated.Predict(f_all.detach());
    EXPECT_TRUE(
        torch::equal(predicted.label, expected.label.slice(0, rank * batch, (rank + 1) * batch)))
        << predicted.label << expected.label;
    EXPECT_TRUE(torch::allclose(predicted.probability,
                                expected.probability.slice(0, rank * batch, (rank + 1) * batch),
                                1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(sharded.WeightNorms(), replicated.WeightNorms(), 1e-6, 1e-7));
    // Uneven rows (the last chunks of evaluation stripes): rank r passes r rows, rank 0 none.
    const torch::Tensor some = features.slice(0, 0, rank);
    const ClassPrediction uneven = sharded.Predict(some);
    ASSERT_EQ(uneven.label.size(0), rank);
    if (rank > 0) {
      EXPECT_TRUE(torch::equal(uneven.label, replicated.Predict(some).label));
      EXPECT_TRUE(
          torch::allclose(uneven.probability, replicated.Predict(some).probability, 1e-5, 1e-6));
    }

    // Per-class rows (an optimizer's state of W) gathered in class order and cut back.
    const torch::Tensor state = sharded.local_weight().detach() * 2 + 1;
    const torch::Tensor every = sharded.EveryClassRows(state);
    EXPECT_TRUE(torch::equal(every, whole.at("classifier.weight") * 2 + 1));
    EXPECT_TRUE(torch::equal(sharded.OwnRows(every), state));
    EXPECT_TRUE(torch::equal(replicated.EveryClassRows(every), every));
    // An exact tie between the first and the last class (on the first and the last rank): the
    // lower class, as the replicated argmax.
    if (loss.head.kind == HeadKind::kSoftmax) {
      torch::Tensor tied = whole.at("classifier.weight").clone();
      tied[classes - 1].copy_(tied[0]);
      ShardedClassifier tie(dim, classes, loss, *g_comm, /*seed=*/5, counts);
      ASSERT_TRUE(tie.LoadCheckpointTensors({{"classifier.weight", tied}}, "test").ok());
      const torch::Tensor f_tie = (tied[0] * 50).expand({rank + 1, dim}).contiguous();
      EXPECT_TRUE(torch::equal(tie.Predict(f_tie).label, torch::zeros({rank + 1}, torch::kInt64)));
    }

    // Reading a whole W takes this rank's rows; another class count is refused.
    ShardedClassifier reloaded(dim, classes, loss, *g_comm, /*seed=*/6, counts);
    ASSERT_FALSE(torch::equal(reloaded.local_weight(), sharded.local_weight()));
    ASSERT_TRUE(reloaded.LoadCheckpointTensors(whole, "test").ok());
    EXPECT_TRUE(torch::equal(reloaded.local_weight(), sharded.local_weight()));
    const std::map<std::string, torch::Tensor> wider = {
        {"classifier.weight", torch::zeros({classes + 1, dim})}};
    EXPECT_FALSE(reloaded.LoadCheckpointTensors(wider, "test").ok());
  }
}

// Past one initialisation block (4096 rows): the rows each rank draws are still those one rank
// draws for all classes.
TEST(DistributedTest, ShardedInitialRowsAcrossBlocksDoNotDependOnTheRankCount) {
  const int64_t classes = 2 * ShardedClassifier::kInitBlockRows + 3;
  ShardedClassifier sharded(2, classes, LossWeights(), *g_comm, /*seed=*/9);
  std::unique_ptr<Communicator> alone = CreateLocalCommunicator();
  ShardedClassifier one(2, classes, LossWeights(), *alone, 9);
  EXPECT_TRUE(
      torch::equal(sharded.CheckpointTensors().at("classifier.weight"), one.local_weight()));
  const ClassRange range = sharded.range();
  EXPECT_TRUE(
      torch::equal(sharded.local_weight(), one.local_weight().slice(0, range.start, range.end())));
  // Blocks differ from each other (a seed per block, not one stream restarted).
  EXPECT_FALSE(torch::equal(one.local_weight().slice(0, 0, 3),
                            one.local_weight().slice(0, ShardedClassifier::kInitBlockRows,
                                                     ShardedClassifier::kInitBlockRows + 3)));
}

TEST(DistributedTest, UpdateStatsEqualsSingleProcess) {
  JobConfig config = testing::TinyJobConfig();
  config.data.yaw_tau = 50;
  const Dataset data = DataWithYaw();
  Trainer distributed(config, data, *g_comm);
  distributed.Pretrain(3);
  std::unique_ptr<Communicator> local = CreateLocalCommunicator();
  Trainer single(config, data, *local);
  CopyParameters(distributed, single);
  const PhaseReport dist_report = distributed.UpdateStats();
  const PhaseReport single_report = single.UpdateStats();
  const FtlStatistics& d = distributed.statistics();
  const FtlStatistics& s = single.statistics();
  EXPECT_TRUE(torch::allclose(d.centers, s.centers, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(d.mean_distances, s.mean_distances, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(d.eigenvalues, s.eigenvalues, 1e-5, 1e-5));
  EXPECT_TRUE(torch::equal(d.hard_mask, s.hard_mask));
  ASSERT_EQ(d.basis.sizes(), s.basis.sizes());
  // Eigenvectors are defined up to sign: compare the projections Q Q^T.
  EXPECT_TRUE(torch::allclose(d.basis.mm(d.basis.t()), s.basis.mm(s.basis.t()), 1e-5, 1e-5));
  EXPECT_EQ(dist_report.metrics.at("yaw_fallback_classes"),
            single_report.metrics.at("yaw_fallback_classes"));
  EXPECT_GT(d.hard_mask.sum().item<int64_t>(), 0);
}

// PNG encodings of an in-memory dataset's images by sample name; remembers what was read.
class EncodedCopySource : public EncodedImageSource {
 public:
  explicit EncodedCopySource(const Dataset& d) {
    for (int64_t i = 0; i < d.size(); ++i) {
      const torch::Tensor image = d.images[i][0].contiguous();
      std::vector<uchar> png;
      cv::imencode(".png",
                   cv::Mat(image.size(0), image.size(1), CV_8UC1, image.data_ptr<uint8_t>()), png);
      bytes_[d.sample_names[i]] = std::string(png.begin(), png.end());
    }
  }
  absl::StatusOr<std::string> Read(const std::string& name) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    reads_.push_back(name);
    return bytes_.at(name);
  }
  std::string Locate(const std::string& name) const override { return "memory:" + name; }
  std::vector<std::string> reads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return reads_;
  }

 private:
  std::map<std::string, std::string> bytes_;
  mutable std::mutex mutex_;
  mutable std::vector<std::string> reads_;
};

// Streaming ranks read just their rows of each global batch (their shard of the step) and still
// train exactly as one rank with the whole batch in memory.
TEST(DistributedTest, StreamingRanksReadOnlyTheirRowsAndTrainAsOneRank) {
  JobConfig config = testing::TinyJobConfig();
  config.data.streaming = true;
  config.data.loader_threads = 1;
  config.data.prefetch_batches = 2;
  const Dataset data = DataWithYaw();
  Dataset streamed = data;
  streamed.images = torch::Tensor();
  auto source = std::make_unique<EncodedCopySource>(data);
  const EncodedCopySource* reads = source.get();
  ImageOptions options;
  options.size = 16;
  options.channels = 1;
  streamed.stream = std::make_shared<ImageStream>(std::move(source), options);
  Trainer distributed(config, streamed, *g_comm);
  JobConfig doubled = testing::TinyJobConfig();
  doubled.training.batch_size = 2 * config.training.batch_size;
  std::unique_ptr<Communicator> local = CreateLocalCommunicator();
  Trainer single(doubled, data, *local);
  CopyParameters(distributed, single);
  distributed.Pretrain(3);
  single.Pretrain(3);
  ExpectSameParameters(distributed, single, 1e-5);

  EpochSampler sampler(torch::arange(data.size(), torch::kInt64), config.training.seed,
                       SampleStream::kPretrain);
  std::vector<std::string> expected;
  for (int64_t step = 0; step < 3; ++step) {
    const torch::Tensor rows =
        RankSlice(sampler.Batch(step, 2 * config.training.batch_size), g_comm->rank(), 2);
    for (int64_t i = 0; i < rows.size(0); ++i)
      expected.push_back(data.sample_names[rows[i].item<int64_t>()]);
  }
  EXPECT_EQ(reads->reads(), expected);  // no more, no other rows, in order (one loader thread)

  // UpdateStats reads this rank's stripe once: rows rank, rank + 2, ...
  const size_t before = reads->reads().size();
  distributed.UpdateStats();
  const std::vector<std::string> after = reads->reads();
  std::vector<std::string> stripe;
  for (int64_t i = g_comm->rank(); i < data.size(); i += 2) stripe.push_back(data.sample_names[i]);
  EXPECT_EQ(std::vector<std::string>(after.begin() + before, after.end()), stripe);
}

// Trains `config` on g_comm's R ranks and, beside it, on one rank with the R-fold batch and the
// classifier replicated, from the same weights (every phase), and expects the same losses,
// centres and parameters; returns the one-rank trainer (it uses `local`, which must outlive it).
std::unique_ptr<Trainer> ExpectRanksEqualOneRankOfTheWholeBatch(const JobConfig& config,
                                                                const Dataset& data,
                                                                Communicator& local) {
  Trainer distributed(config, data, *g_comm);
  if (config.classifier_sharding == ClassifierSharding::kSharded) {
    // Really split: this rank holds its range of the classes only.
    EXPECT_FALSE(distributed.classifier().averages_gradients());
    EXPECT_EQ(distributed.classifier().named_parameters()["classifier.weight"].size(0),
              ClassRangeOf(data.num_classes(), g_comm->rank(), g_comm->size()).count);
  }
  JobConfig whole = config;
  whole.training.batch_size = g_comm->size() * config.training.batch_size;
  whole.classifier_sharding = ClassifierSharding::kReplicated;
  auto single = std::make_unique<Trainer>(whole, data, local);
  CopyParameters(distributed, *single);
  std::vector<PhaseReport> reports[2];
  Trainer* trainers[2] = {&distributed, single.get()};
  for (int i = 0; i < 2; ++i) {
    Trainer* t = trainers[i];
    reports[i].push_back(t->Pretrain(3));
    reports[i].push_back(t->UpdateStats());
    reports[i].push_back(t->StageOne(2, 0));
    reports[i].push_back(t->StageTwo(2, 0));
  }
  for (size_t p = 0; p < reports[0].size(); ++p)
    ExpectSameLosses(reports[0][p], reports[1][p], 1e-5);
  EXPECT_TRUE(
      torch::allclose(distributed.statistics().centers, single->statistics().centers, 1e-5, 1e-5));
  ExpectSameParameters(distributed, *single, 1e-5);
  return single;
}

std::unique_ptr<Trainer> ExpectTwoRanksEqualOneRankOfDoubleBatch(const JobConfig& config,
                                                                 const Dataset& data,
                                                                 Communicator& local) {
  EXPECT_EQ(g_comm->size(), 2);
  return ExpectRanksEqualOneRankOfTheWholeBatch(config, data, local);
}

TEST(DistributedTest, TwoRanksOfBatchBEqualOneRankOfBatchTwoB) {
  JobConfig config = testing::TinyJobConfig();
  config.runtime.overlap_allreduce = true;  // the overlapped path, end to end (CPU default: off)
  const Dataset data = DataWithYaw();
  std::unique_ptr<Communicator> local = CreateLocalCommunicator();
  const std::unique_ptr<Trainer> trained =
      ExpectTwoRanksEqualOneRankOfDoubleBatch(config, data, *local);
  Trainer& single = *trained;
  // Sanity: the ranks really trained on different halves (their gradients differed before the
  // all-reduce): a rank-local run with batch B ends elsewhere.
  Trainer alone(config, data, *local);
  CopyParameters(single, alone);
  alone.Pretrain(2);
  bool differs = false;
  const auto a = alone.model()->parameters();
  const auto s = single.model()->parameters();
  for (size_t i = 0; i < a.size(); ++i) differs |= !torch::allclose(a[i], s[i], 1e-5, 1e-5);
  EXPECT_TRUE(differs);
}

// The modern recipe keeps the guarantee: random flips and crops are drawn per position of the
// global batch, the margin head is per sample, SGD's schedule follows the step counter and the
// gradient is clipped after the average.
TEST(DistributedTest, TwoRanksEqualOneRankWithFlipsCropsArcFaceAndScheduledSgd) {
  JobConfig config = testing::TinyJobConfig();
  testing::UseArcFaceSgdRecipe(&config, /*warmup=*/1, /*clip=*/0.5);
  config.training.pretrain_iterations = 3;
  const Dataset data = DataWithYaw();
  std::unique_ptr<Communicator> local = CreateLocalCommunicator();
  ExpectTwoRanksEqualOneRankOfDoubleBatch(config, data, *local);
}

// Partial FC at sample rate 1: with the classifier's rows split across the ranks (3 ranks: 3, 2
// and 2 of the 7 classes), the softmax + m-L2 head with logit adjustment and class-balanced
// weights trains as one rank holding them all, through pre-training, statistics and both stages.
TEST(DistributedTest, ShardedClassifierTrainsAsOneReplicatedRank) {
  JobConfig config = testing::TinyJobConfig();
  config.classifier_sharding = ClassifierSharding::kSharded;
  config.loss.logit_adjust_tau = 1.0;
  config.loss.class_balanced_beta = 0.9;
  const Dataset data = DataWithYaw();
  std::unique_ptr<Communicator> local = CreateLocalCommunicator();
  ExpectRanksEqualOneRankOfTheWholeBatch(config, data, *local);
}

// ... and with an ArcFace head, SGD with weight decay and the gradient clipped by the whole
// model's norm (the shards' parts summed across ranks; a rank clipping by its own would differ).
TEST(DistributedTest, ShardedClassifierWithArcFaceAndClippingTrainsAsOneReplicatedRank) {
  JobConfig config = testing::TinyJobConfig();
  testing::UseArcFaceSgdRecipe(&config, /*warmup=*/1, /*clip=*/0.5);
  config.classifier_sharding = ClassifierSharding::kSharded;
  config.training.pretrain_iterations = 3;
  const Dataset data = DataWithYaw();
  std::unique_ptr<Communicator> local = CreateLocalCommunicator();
  ExpectRanksEqualOneRankOfTheWholeBatch(config, data, *local);
}

// A sharded run's checkpoint holds the whole classifier and its optimizer state: one process
// resumes it (replicated, the whole batch) and continues as the ranks do.
TEST(DistributedTest, ShardedCheckpointResumesOnOneRankAsTheRanksContinue) {
  JobConfig config = testing::TinyJobConfig();
  config.classifier_sharding = ClassifierSharding::kSharded;
  const Dataset data = DataWithYaw();
  Trainer distributed(config, data, *g_comm);
  distributed.Pretrain(3);
  distributed.UpdateStats();
  distributed.StageOne(2, 0);
  const std::string dir = ::testing::TempDir() + "/sharded_resume";
  if (g_comm->rank() == 0) std::filesystem::create_directories(dir);
  const std::string path = dir + "/ckpt.ftlckpt";
  ASSERT_TRUE(distributed.SaveCheckpoint(path, 4).ok());
  // The same rank count, from the file: each rank cuts its rows of the weights and state.
  Trainer reloaded(config, data, *g_comm);
  ASSERT_TRUE(reloaded.LoadCheckpoint(path, CheckpointUse::kAnyRun).ok());
  for (Trainer* t : {&distributed, &reloaded}) {
    t->StageOne(2, 0);  // the classifier's optimizer state matters here
    t->StageTwo(2, 0);
  }
  ExpectSameParameters(distributed, reloaded, 1e-6);
  for (ClassifierSharding alone_sharding :
       {ClassifierSharding::kReplicated, ClassifierSharding::kSharded}) {
    JobConfig whole = config;
    whole.training.batch_size = g_comm->size() * config.training.batch_size;
    whole.classifier_sharding = alone_sharding;
    std::unique_ptr<Communicator> local = CreateLocalCommunicator();
    Trainer alone(whole, data, *local);
    absl::StatusOr<int64_t> position = alone.LoadCheckpoint(path, CheckpointUse::kAnyRun);
    ASSERT_TRUE(position.ok()) << position.status();
    EXPECT_EQ(*position, 4);
    alone.StageOne(2, 0);
    alone.StageTwo(2, 0);
    ExpectSameParameters(distributed, alone, 1e-5);
  }
}

// A rank that cannot load its part of a checkpoint (here: a file only rank 0 has) fails the load
// on every rank, so that no rank trains on while another moves to an older checkpoint.
TEST(DistributedTest, ACheckpointOneRankCannotLoadFailsOnEveryRank) {
  JobConfig config = testing::TinyJobConfig();
  config.classifier_sharding = ClassifierSharding::kSharded;
  const Dataset data = DataWithYaw();
  Trainer trainer(config, data, *g_comm);
  const std::string dir = ::testing::TempDir() + "/one_rank_loads";
  if (g_comm->rank() == 0) std::filesystem::create_directories(dir);
  const std::string good = dir + "/ckpt.ftlckpt";
  ASSERT_TRUE(trainer.SaveCheckpoint(good, 1).ok());
  const std::string mine = g_comm->rank() == 0 ? good : dir + "/missing.ftlckpt";
  const absl::StatusOr<int64_t> loaded = trainer.LoadCheckpoint(mine);
  ASSERT_FALSE(loaded.ok()) << "rank " << g_comm->rank();
  if (g_comm->rank() == 0) {
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss) << loaded.status();
    EXPECT_NE(loaded.status().message().find("another rank could not load it"), std::string::npos)
        << loaded.status();
  }
  // Every rank loads the file all can read.
  EXPECT_TRUE(trainer.LoadCheckpoint(good).ok());
}

// An IResNet on two ranks: channels-last weights broadcast and averaged, batch-norm statistics
// broadcast from rank 0; every rank ends with the same model (parameters and statistics) and the
// data-parallel run stays close to one rank with the doubled batch (per-rank batch norm makes it
// approximate, not exact).
TEST(DistributedTest, IResNetRanksHoldOneModel) {
  JobConfig config = testing::TinyJobConfig();
  config.preset = "iresnet18";
  config.model = *ModelPreset("iresnet18");
  config.model.input_size = 16;
  config.model.feature_dim = 16;
  config.loss.recon = 0;
  const Dataset data = testing::SyntheticDataset({12, 10, 9, 3, 2, 2}, 16, 3);
  Trainer trainer(config, data, *g_comm);
  trainer.Pretrain(2);
  trainer.UpdateStats();
  trainer.StageOne(1, 0);
  trainer.StageTwo(2, 0);
  ASSERT_TRUE(trainer.SaveCheckpoint(::testing::TempDir() + "/iresnet_2ranks.ftlckpt", 1).ok());
  // Sum of every parameter and statistic, per rank, against rank 0's.
  double local = 0;
  for (const torch::Tensor& p : trainer.model()->parameters()) local += p.sum().item<double>();
  for (const torch::Tensor& b : trainer.model()->buffers()) {
    if (b.is_floating_point()) local += b.sum().item<double>();
  }
  std::vector<torch::Tensor> mine = {torch::tensor({local}, torch::kFloat64)};
  std::vector<torch::Tensor> first = {mine[0].clone()};
  g_comm->Broadcast(first, 0);
  EXPECT_DOUBLE_EQ(mine[0].item<double>(), first[0].item<double>());
}

TEST(DistributedTest, GradientBucketsAverageAcrossRanks) {
  torch::Tensor p1 = torch::zeros({5}, torch::requires_grad());
  torch::Tensor p2 = torch::zeros({3, 3}, torch::requires_grad());
  p1.mutable_grad() = torch::full({5}, 2.0 * (g_comm->rank() + 1));
  p2.mutable_grad() = torch::full({3, 3}, 1.0 * g_comm->rank());
  GradientAverager averager({p1, p2}, /*bucket_bytes=*/16);
  EXPECT_EQ(averager.num_buckets(), 2);
  averager.Average(*g_comm);
  EXPECT_TRUE(torch::allclose(p1.grad(), torch::full({5}, 3.0f)));
  EXPECT_TRUE(torch::allclose(p2.grad(), torch::full({3, 3}, 0.5f)));
  EXPECT_EQ(averager.stats().calls, 2);
}

// A rank waiting in a barrier or a broadcast for a slow peer naps instead of polling at full
// speed: over 1.5 s of waiting it uses well under a quarter of a core.
TEST(DistributedTest, AWaitingRankDoesNotHoldACore) {
  auto cpu_seconds = [] {
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
           1e-6 * (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
  };
  for (const bool broadcast : {false, true}) {
    g_comm->Barrier();
    const double cpu_before = cpu_seconds();
    const auto wall_before = std::chrono::steady_clock::now();
    if (g_comm->rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    std::string bytes = g_comm->rank() == 0 ? "from rank 0" : "";
    if (broadcast) {
      g_comm->BroadcastBytes(bytes, 0);
      EXPECT_EQ(bytes, "from rank 0");
    } else {
      g_comm->Barrier();
    }
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
    const double cpu = cpu_seconds() - cpu_before;
    if (g_comm->rank() == 1) {
      EXPECT_GT(wall, 1.0);
      EXPECT_LT(cpu, 0.25 * wall) << (broadcast ? "broadcast" : "barrier") << ": " << cpu
                                  << " s of CPU in " << wall << " s";
    }
  }
}

TEST(DistributedTest, StartAllReduceSumCompletesOnWait) {
  torch::Tensor t = torch::full({1000}, g_comm->rank() + 1.0, torch::kFloat64);
  std::unique_ptr<PendingAllReduce> pending = g_comm->StartAllReduceSum(t);
  pending->Wait();
  EXPECT_TRUE(pending->Test());
  EXPECT_TRUE(torch::equal(t, torch::full({1000}, 3.0, torch::kFloat64)));
}

// The overlapped averager (buckets all-reduced from gradient hooks during backward) gives exactly
// the gradients of the blocking one, and really starts buckets inside backward.
TEST(DistributedTest, OverlappedAveragingEqualsBlocking) {
  torch::manual_seed(5);
  const torch::Tensor w1_init = torch::randn({6, 4});
  const torch::Tensor w2_init = torch::randn({3, 6});
  torch::manual_seed(100 + g_comm->rank());  // each rank its own data
  const torch::Tensor x = torch::randn({8, 4});
  std::vector<torch::Tensor> grads[2];
  int64_t started[2] = {0, 0};
  for (int overlap = 0; overlap < 2; ++overlap) {
    torch::Tensor w1 = w1_init.clone().requires_grad_(true);
    torch::Tensor w2 = w2_init.clone().requires_grad_(true);
    torch::Tensor unused = torch::zeros({2}, torch::requires_grad());
    GradientAverager averager({w1, w2, unused}, /*bucket_bytes=*/64, overlap == 1);
    for (int step = 0; step < 2; ++step) {  // twice: the buckets reset between backward passes
      for (torch::Tensor* p : {&w1, &w2}) {
        if (p->grad().defined()) p->mutable_grad().zero_();
      }
      averager.BeginBackward(*g_comm);
      torch::tanh(x.mm(w1.t())).mm(w2.t()).pow(2).sum().backward();
      averager.FinishBackward(*g_comm);
    }
    grads[overlap] = {w1.grad().clone(), w2.grad().clone(), unused.grad().clone()};
    started[overlap] = averager.stats().buckets_started_in_backward;
  }
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(torch::equal(grads[0][i], grads[1][i])) << i;
  EXPECT_TRUE(torch::equal(grads[1][2], torch::zeros({2})));  // no gradient counts as zero
  EXPECT_EQ(started[0], 0);
  EXPECT_GT(started[1], 0);
  // And it is an average across ranks: rank 0's local gradient differs from the result.
  torch::Tensor w1 = w1_init.clone().requires_grad_(true);
  torch::Tensor w2 = w2_init.clone().requires_grad_(true);
  torch::tanh(x.mm(w1.t())).mm(w2.t()).pow(2).sum().backward();
  EXPECT_FALSE(torch::allclose(w1.grad(), grads[1][0]));
}

}  // namespace
}  // namespace ftl

int main(int argc, char** argv) {
  std::unique_ptr<ftl::Communicator> comm = ftl::CreateMpiCommunicator(&argc, &argv);
  ftl::g_comm = comm.get();
  torch::set_num_threads(1);
  ::testing::InitGoogleTest(&argc, argv);
  const int failed = RUN_ALL_TESTS();
  // Any rank failing fails the run on every rank.
  std::vector<torch::Tensor> any = {torch::full({1}, int64_t{failed != 0})};
  comm->AllReduceSum(any);
  return any[0].item<int64_t>() != 0 ? 1 : 0;
}
