// Fig. 4a's centre-estimation error and the Fig. 6-8 picture grids, on a tiny model.
#include "common/analysis/analysis.h"

#include <gtest/gtest.h>

#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "common/comm/communicator.h"
#include "common/ftl/transfer.h"
#include "tests/test_util.h"

namespace ftl {
namespace {

// Geometry of analysis.cc's grids: cells of 2x the input side, 2-pixel gaps, 120-pixel labels.
cv::Mat CellAt(const cv::Mat& grid, int row, int column, int side) {
  const int cell = 2 * side;
  return grid(cv::Rect(120 + 2 + column * (cell + 2), 2 + row * (cell + 2), cell, cell));
}

// The grey value a cell should show for a [1, S, S] image at pixel (y, x) of the cell.
int Expected(const torch::Tensor& image, int y, int x) {
  return static_cast<int>(std::lround(image[0][y / 2][x / 2].clamp(0, 1).item<float>() * 255));
}

void ExpectCellShows(const cv::Mat& grid, int row, int column, const torch::Tensor& image) {
  const int side = static_cast<int>(image.size(1));
  const cv::Mat cell = CellAt(grid, row, column, side);
  int mismatches = 0;
  for (int y = 0; y < cell.rows; y += 3) {
    for (int x = 0; x < cell.cols; x += 3) {
      if (std::abs(cell.at<cv::Vec3b>(y, x)[0] - Expected(image, y, x)) > 1) ++mismatches;
    }
  }
  EXPECT_EQ(mismatches, 0) << "cell (" << row << ", " << column << ")";
}

class AnalysisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = ftl::testing::TinyJobConfig();
    dataset_ = ftl::testing::SyntheticDataset({30, 30, 3, 3});
    comm_ = CreateLocalCommunicator();
    trainer_ = std::make_unique<Trainer>(config_, dataset_, *comm_);
    trainer_->UpdateStats();
  }
  torch::Tensor Decode(const torch::Tensor& g) {
    torch::NoGradGuard no_grad;
    trainer_->model()->eval();
    torch::Tensor out = trainer_->model()->dec->forward(g);
    trainer_->model()->train();
    return out;
  }
  torch::Tensor Encode(const torch::Tensor& x) {
    torch::NoGradGuard no_grad;
    trainer_->model()->eval();
    torch::Tensor out = trainer_->model()->enc->forward(x);
    trainer_->model()->train();
    return out;
  }

  JobConfig config_;
  Dataset dataset_;
  std::unique_ptr<Communicator> comm_;
  std::unique_ptr<Trainer> trainer_;
};

TEST_F(AnalysisTest, CenterErrorIsZeroForIdenticalImagesAndFlipsMatterOnlyWhenAsymmetric) {
  // Every image of a class identical and left-right symmetric: every estimator is exact.
  Dataset same = dataset_;
  same.images = dataset_.images.clone();  // Dataset copies share tensors
  for (int64_t i = 0; i < same.size(); ++i) {
    const int64_t label = same.labels[i].item<int64_t>();
    same.images[i].fill_(40 + 50 * label);
  }
  for (const CenterErrorRow& r : CenterEstimationError(
           trainer_->model(), same, trainer_->regular_classes(), {1, 5, 20}, 3, 1)) {
    EXPECT_NEAR(r.mean_error, 0.0, 1e-9) << r.method << " " << r.images;
    EXPECT_EQ(r.classes, 2);  // the two regular classes with more than 20 images
  }
  // Random images: AvgAll with 1 image is PickOne; averaging 20 beats one image.
  const std::vector<CenterErrorRow> rows = CenterEstimationError(
      trainer_->model(), dataset_, trainer_->regular_classes(), {1, 20}, 5, 2);
  ASSERT_EQ(rows.size(), 6u);
  std::map<std::string, double> e;  // "method/images" -> mean error
  for (const CenterErrorRow& r : rows) {
    e[r.method + "/" + std::to_string(r.images)] = r.mean_error;
    EXPECT_GE(r.mean_error, 0.0);
    EXPECT_LE(r.mean_error, 2.0);
  }
  EXPECT_DOUBLE_EQ(e["avg_all/1"], e["pick_one/1"]);
  EXPECT_LT(e["avg_all/20"], e["pick_one/20"]);
  EXPECT_LT(e["avg_flip/20"], e["avg_all/20"]);  // the reference is flip-averaged
}

TEST_F(AnalysisTest, CenterPictureShowsDecodedCentres) {
  const std::string path = ::testing::TempDir() + "/analysis_centers.png";
  const FtlStatistics& stats = trainer_->statistics();
  ASSERT_TRUE(
      WriteCenterPicture(trainer_->model(), dataset_, stats, trainer_->regular_classes(), path, 4)
          .ok());
  const cv::Mat grid = cv::imread(path, cv::IMREAD_COLOR);
  ASSERT_FALSE(grid.empty());
  EXPECT_EQ(grid.rows, 2 + 2 * (32 + 2));
  EXPECT_EQ(grid.cols, 120 + 2 + 4 * (32 + 2));
  // Shown: regular classes 0, 1 (most images first), then UR classes 2, 3.
  const torch::Tensor decoded = Decode(stats.centers);
  for (int k = 0; k < 4; ++k) {
    ExpectCellShows(grid, 1, k, decoded[k]);
    const int64_t first = (dataset_.labels == k).nonzero()[0][0].item<int64_t>();
    ExpectCellShows(grid, 0, k, ImageBatch(dataset_, torch::tensor({first}))[0]);
  }
}

TEST_F(AnalysisTest, TransferPictureShowsCentrePlusProjectedVariation) {
  const std::string path = ::testing::TempDir() + "/analysis_transfer.png";
  const FtlStatistics& stats = trainer_->statistics();
  ASSERT_TRUE(WriteTransferPicture(trainer_->model(), dataset_, stats, trainer_->regular_classes(),
                                   path, 3, 2)
                  .ok());
  const cv::Mat grid = cv::imread(path, cv::IMREAD_COLOR);
  ASSERT_FALSE(grid.empty());
  EXPECT_EQ(grid.rows, 2 + 4 * (32 + 2));  // inputs, decodings, two UR rows
  // Regular class j = 0 (ties by label), its first 3 images; UR rows: classes 2 and 3.
  const torch::Tensor rows = (dataset_.labels == 0).nonzero().squeeze(1).slice(0, 0, 3);
  const torch::Tensor g = Encode(ImageBatch(dataset_, rows));
  for (int r = 0; r < 2; ++r) {
    const int64_t ur = 2 + r;
    // Eq. 7 via the training code's own transfer, for an independent check of the picture.
    const torch::Tensor transferred =
        TransferFeatures(g, torch::zeros({3}, torch::kInt64), torch::full({3}, ur, torch::kInt64),
                         stats.centers, stats.basis);
    const torch::Tensor decoded = Decode(transferred);
    ExpectCellShows(grid, 2 + r, 0, Decode(stats.centers[ur].unsqueeze(0))[0]);
    for (int k = 0; k < 3; ++k) ExpectCellShows(grid, 2 + r, 1 + k, decoded[k]);
  }
}

TEST_F(AnalysisTest, InterpolationRowsStartAndEndWhereThePaperSays) {
  const std::string path = ::testing::TempDir() + "/analysis_interpolation.png";
  const FtlStatistics& stats = trainer_->statistics();
  ASSERT_TRUE(WriteInterpolationPicture(trainer_->model(), dataset_, stats,
                                        trainer_->regular_classes(), path, 3)
                  .ok());
  const cv::Mat grid = cv::imread(path, cv::IMREAD_COLOR);
  ASSERT_FALSE(grid.empty());
  // Class 1 = the largest regular class (0), class 2 = the first UR class (2).
  const int64_t x1 = (dataset_.labels == 0).nonzero()[0][0].item<int64_t>();
  const int64_t x2 = (dataset_.labels == 2).nonzero()[0][0].item<int64_t>();
  const torch::Tensor g = Encode(ImageBatch(dataset_, torch::tensor({x1, x2})));
  const torch::Tensor q = stats.basis, c1 = stats.centers[0], c2 = stats.centers[2];
  // plain: a = 0 -> g_1, a = 1 -> g_2.
  ExpectCellShows(grid, 0, 1, Decode(g[0].unsqueeze(0))[0]);
  ExpectCellShows(grid, 0, 3, Decode(g[1].unsqueeze(0))[0]);
  // non-identity: a = 1 -> c_1 + Q Q^T (g_2 - c_2).
  ExpectCellShows(grid, 1, 3, Decode((c1 + (g[1] - c2).matmul(q).matmul(q.t())).unsqueeze(0))[0]);
  // identity: a = 0.5 -> g_1 + (c_2 - c_1) / 2.
  ExpectCellShows(grid, 2, 2, Decode((g[0] + 0.5 * (c2 - c1)).unsqueeze(0))[0]);
}

TEST_F(AnalysisTest, PicturesNeedStatistics) {
  FtlStatistics empty;
  EXPECT_FALSE(WriteCenterPicture(trainer_->model(), dataset_, empty, trainer_->regular_classes(),
                                  ::testing::TempDir() + "/never.png")
                   .ok());
}

}  // namespace
}  // namespace ftl
