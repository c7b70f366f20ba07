#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/experiment/variants.h"

namespace ftl {
namespace {

std::vector<std::string> Names(const std::string& head) {
  std::vector<std::string> names;
  for (const VariantPlan& p : ExperimentVariantPlans(head)) names.push_back(p.name);
  return names;
}

TEST(ExperimentVariantsTest, TableOrderUnderEachHead) {
  EXPECT_EQ(Names("softmax"),
            (std::vector<std::string>{"softmax", "softmax_ml2", "softmax_ml2_continued",
                                      "softmax_ml2_images", "softmax_ml2_steps", "softmax_ml2_cb",
                                      "softmax_ml2_cbloss", "softmax_ml2_la", "ftl_no_transfer",
                                      "ftl_second_ur", "ftl_center", "ftl_center_noise",
                                      "ftl_random_basis", "ftl"}));
  EXPECT_EQ(Names("arcface"),
            (std::vector<std::string>{"arcface", "arcface_continued", "arcface_images",
                                      "arcface_steps", "arcface_cb", "arcface_cbloss", "arcface_la",
                                      "ftl_no_transfer", "ftl_second_ur", "ftl_center",
                                      "ftl_center_noise", "ftl_random_basis", "ftl"}));
  EXPECT_EQ(BaseVariantName("softmax"), "softmax_ml2");
  EXPECT_EQ(BaseVariantName("cosface"), "cosface");
}

TEST(ExperimentVariantsTest, EachPlanSaysWhatItTrains) {
  const std::map<std::string, ThirdBatch> third = {{"ftl", ThirdBatch::kTransfer},
                                                   {"ftl_no_transfer", ThirdBatch::kNone},
                                                   {"ftl_second_ur", ThirdBatch::kUr},
                                                   {"ftl_center", ThirdBatch::kCenter},
                                                   {"ftl_center_noise", ThirdBatch::kCenterNoise},
                                                   {"ftl_random_basis", ThirdBatch::kRandomBasis}};
  for (const VariantPlan& p : ExperimentVariantPlans("softmax")) {
    SCOPED_TRACE(p.name);
    EXPECT_FALSE(p.description.empty());
    EXPECT_EQ(p.ml2, p.name != "softmax");
    EXPECT_EQ(p.class_balanced, p.name == "softmax_ml2_cb");
    EXPECT_EQ(p.logit_adjusted, p.name == "softmax_ml2_la");
    EXPECT_EQ(p.class_balanced_loss, p.name == "softmax_ml2_cbloss");
    if (third.count(p.name)) {
      EXPECT_EQ(p.kind, VariantKind::kFtl);
      EXPECT_EQ(p.third_batch, third.at(p.name));
    }
  }
  for (const VariantPlan& p : ExperimentVariantPlans("arcface")) EXPECT_FALSE(p.ml2) << p.name;
  EXPECT_EQ(FindVariant("softmax", "softmax")->kind, VariantKind::kFromScratch);
  EXPECT_EQ(FindVariant("softmax_ml2", "softmax")->kind, VariantKind::kFromScratch);
  EXPECT_EQ(FindVariant("arcface", "arcface")->kind, VariantKind::kFromScratch);
  EXPECT_EQ(FindVariant("arcface_steps", "arcface")->kind, VariantKind::kContinued);
  const absl::StatusOr<VariantPlan> unknown = FindVariant("softmax_ml2_cb", "arcface");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("arcface_cb"), std::string::npos)
      << unknown.status().message();
}

// Budget 300,2,100: RS = 200. Hand-counted: FTL's stage 1 makes three R/FC steps on two image
// batches per iteration, its stage 2 one full-model step on one batch.
TEST(ExperimentVariantsTest, WorkCountsStepsAndImagesOfEachPart) {
  const ExperimentBudget budget{300, 2, 100};
  struct Expected {
    int64_t iterations, encoder, filter, classifier, images;
  };
  const std::map<std::string, Expected> expected = {
      {"softmax", {300, 300, 300, 300, 300}},
      {"softmax_ml2", {300, 300, 300, 300, 300}},
      {"softmax_ml2_continued", {400, 400, 400, 400, 400}},
      {"softmax_ml2_images", {600, 600, 600, 600, 600}},
      {"softmax_ml2_steps", {800, 800, 800, 800, 800}},
      {"softmax_ml2_cb", {400, 400, 400, 400, 400}},
      {"softmax_ml2_cbloss", {400, 400, 400, 400, 400}},
      {"softmax_ml2_la", {400, 400, 400, 400, 400}},
      {"ftl_no_transfer", {400, 200, 600, 600, 600}},
      {"ftl_second_ur", {400, 200, 800, 800, 800}},
      {"ftl_center", {400, 200, 800, 800, 600}},
      {"ftl_center_noise", {400, 200, 800, 800, 600}},
      {"ftl_random_basis", {400, 200, 800, 800, 600}},
      {"ftl", {400, 200, 800, 800, 600}},
  };
  for (const VariantPlan& p : ExperimentVariantPlans("softmax")) {
    SCOPED_TRACE(p.name);
    ASSERT_TRUE(expected.count(p.name));
    const Expected& e = expected.at(p.name);
    const VariantWork w = WorkOf(p, budget);
    EXPECT_EQ(w.iterations, e.iterations);
    EXPECT_EQ(w.encoder_steps, e.encoder);
    EXPECT_EQ(w.filter_steps, e.filter);
    EXPECT_EQ(w.classifier_steps, e.classifier);
    EXPECT_EQ(w.image_batches, e.images);
  }
  // The step-matched control makes as many classifier steps as FTL; the image-matched one sees as
  // many images.
  const VariantWork ftl = WorkOf(*FindVariant("ftl", "softmax"), budget);
  EXPECT_EQ(WorkOf(*FindVariant("softmax_ml2_steps", "softmax"), budget).classifier_steps,
            ftl.classifier_steps);
  EXPECT_EQ(WorkOf(*FindVariant("softmax_ml2_images", "softmax"), budget).image_batches,
            ftl.image_batches);
}

}  // namespace
}  // namespace ftl
