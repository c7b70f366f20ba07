// The sharded classifier's pieces on one process: the class partition, and the sharded losses on
// a one-rank communicator against the plain losses (tests/distributed_test.cc runs them on 2 and
// 3 ranks).
#include <gtest/gtest.h>

#include "common/classifier/class_partition.h"
#include "common/classifier/distributed_ops.h"
#include "common/ftl/losses.h"

namespace ftl {
namespace {

TEST(ClassPartitionTest, ContiguousRangesInRankOrderCoverEveryClassOnce) {
  for (const int64_t classes : {1, 2, 7, 10, 1000003}) {
    for (const int ranks : {1, 2, 3, 8}) {
      if (classes < ranks) continue;
      int64_t next = 0, smallest = classes, largest = 0;
      for (int r = 0; r < ranks; ++r) {
        const ClassRange range = ClassRangeOf(classes, r, ranks);
        EXPECT_EQ(range.start, next) << classes << " classes, rank " << r << " of " << ranks;
        next = range.end();
        smallest = std::min(smallest, range.count);
        largest = std::max(largest, range.count);
        // The first N_c % R ranks hold the extra class.
        EXPECT_EQ(range.count, classes / ranks + (r < classes % ranks ? 1 : 0));
      }
      EXPECT_EQ(next, classes);
      EXPECT_LE(largest - smallest, 1);
      EXPECT_GE(smallest, 1);
    }
  }
  const ClassRange middle = ClassRangeOf(7, 1, 3);  // 3, 2, 2
  EXPECT_EQ(middle.start, 3);
  EXPECT_EQ(middle.count, 2);
  // Labels 3 and 4 are its columns 0 and 1; the others another rank's (-1).
  EXPECT_TRUE(torch::equal(ColumnsIn(middle, torch::tensor({4, 5, 2, 3, 0, 6}, torch::kInt64)),
                           torch::tensor({1, -1, -1, 0, -1, -1}, torch::kInt64)));
}

TEST(ClassPartitionTest, FewerClassesThanRanksOrARankOutsideAreRefused) {
  EXPECT_THROW(ClassRangeOf(2, 0, 3), c10::Error);
  EXPECT_THROW(ClassRangeOf(5, 2, 2), c10::Error);
  EXPECT_THROW(ClassRangeOf(5, -1, 2), c10::Error);
}

// With one rank the shard is the whole classifier: the sharded losses are the plain ones, values
// and gradients; GatherRows and SumAcrossRanks are the identity.
TEST(ShardedLossTest, OneRankEqualsThePlainLosses) {
  std::unique_ptr<Communicator> comm = CreateLocalCommunicator();
  torch::manual_seed(4);
  const torch::Tensor f = torch::randn({6, 5}, torch::kFloat64).requires_grad_(true);
  const torch::Tensor w = torch::randn({4, 5}, torch::kFloat64).requires_grad_(true);
  const torch::Tensor y = torch::tensor({0, 3, 1, 1, 2, 3}, torch::kInt64);
  const torch::Tensor weights = torch::tensor({0.5, 1.0, 2.0, 0.25}, torch::kFloat64);
  const ClassRange all = ClassRangeOf(4, 0, 1);
  const torch::Tensor z = torch::mm(GatherRows(f, *comm), w.t()) * 3.0;  // logits up to 15 or so
  const torch::Tensor sharded = ShardedSoftmaxLoss(z, y, all, *comm, weights) +
                                0.3 * ShardedMetricL2Loss(z, 4, Reduction::kMean, *comm) +
                                0.1 * ShardedMetricL2Loss(z, 4, Reduction::kSum, *comm);
  const auto [df, dw] = [&] {
    const auto g = torch::autograd::grad({sharded}, {f, w});
    return std::make_pair(g[0], g[1]);
  }();
  const torch::Tensor plain_z = torch::mm(f, w.t()) * 3.0;
  const torch::Tensor plain = SoftmaxLoss(plain_z, y, torch::Tensor(), 0.0, weights) +
                              0.3 * MetricL2Loss(plain_z, Reduction::kMean) +
                              0.1 * MetricL2Loss(plain_z, Reduction::kSum);
  const auto g = torch::autograd::grad({plain}, {f, w});
  EXPECT_NEAR(sharded.item<double>(), plain.item<double>(), 1e-12);
  EXPECT_TRUE(torch::allclose(df, g[0], 1e-10, 1e-12));
  EXPECT_TRUE(torch::allclose(dw, g[1], 1e-10, 1e-12));
}

}  // namespace
}  // namespace ftl
