// Helpers shared by the tests: a tiny model shape and synthetic datasets.
#ifndef FTL_TESTS_TEST_UTIL_H_
#define FTL_TESTS_TEST_UTIL_H_

#include <torch/torch.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/classifier/classifier.h"
#include "common/config/job_config.h"
#include "common/data/dataset.h"

namespace ftl::testing {

// W [N_c, D] of a classifier (the parameter itself: it changes as the classifier trains).
inline torch::Tensor ClassifierWeight(const Classifier& classifier) {
  const torch::Tensor weight = classifier.named_parameters()["classifier.weight"];
  return weight;
}

// A model small enough for many steps per test on one core.
inline JobConfig TinyJobConfig() {
  JobConfig config;
  config.model.input_size = 16;
  config.model.channels = 1;
  config.model.feature_dim = 8;
  config.model.encoder_widths = {4, 8};
  config.model.convs_per_stage = 0;
  config.model.filter_width = 8;
  config.training.batch_size = 4;
  config.training.pretrain_lr = 1e-3;
  config.training.stage1_lr = 1e-3;
  config.training.stage2_lr = 1e-3;
  config.training.seed = 7;
  config.training.pca_energy = 0.9;
  config.data.ur_max_images = 5;
  config.runtime.bucket_mb = 0.001;  // several buckets even for the tiny model
  return config;
}

// arcface_torch's recipe on `config` (plus random crops of up to 2 pixels, which it does not use):
// random flips, an ArcFace head
// (s 8, m 0.3, no m-L2), SGD with weight decay and a poly schedule after `warmup` iterations,
// gradients clipped at `clip`, learning rate 0.05 in every phase.
inline void UseArcFaceSgdRecipe(JobConfig* config, int64_t warmup, double clip) {
  config->data.random_flip = true;
  config->data.random_crop_pixels = 2;
  config->loss.head.kind = HeadKind::kArcFace;
  config->loss.head.scale = 8;
  config->loss.head.m2 = 0.3;
  config->loss.reg = 0;
  OptimizerConfig sgd;
  sgd.kind = OptimizerKind::kSgd;
  sgd.weight_decay = 5e-4;
  sgd.schedule = LrSchedule::kPoly;
  sgd.warmup_iterations = warmup;
  sgd.clip_grad_norm = clip;
  TrainingConfig& t = config->training;
  t.pretrain_optimizer = t.stage1_optimizer = t.stage2_optimizer = sgd;
  t.pretrain_lr = t.stage1_lr = t.stage2_lr = 0.05;
}

// Random images; class k has images_per_class[k] samples whose pixels are brighter for larger k,
// so the classes are learnable.
inline Dataset SyntheticDataset(const std::vector<int>& images_per_class, int size = 16,
                                int channels = 1, uint64_t seed = 3) {
  torch::manual_seed(seed);
  Dataset d;
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  for (size_t k = 0; k < images_per_class.size(); ++k) {
    d.class_names.push_back(absl::StrCat("class", k));
    for (int i = 0; i < images_per_class[k]; ++i) {
      torch::Tensor base = torch::rand({channels, size, size}) * 120 + 10.0 * k;
      images.push_back(base.clamp(0, 255).to(torch::kUInt8));
      labels.push_back(static_cast<int64_t>(k));
      d.sample_names.push_back(absl::StrCat("class", k, "/", i, ".png"));
    }
  }
  d.images = torch::stack(images);
  d.labels = torch::tensor(labels, torch::kInt64);
  return d;
}

}  // namespace ftl::testing

#endif  // FTL_TESTS_TEST_UTIL_H_
