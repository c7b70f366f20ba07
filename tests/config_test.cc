#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/config/job_spec_conversion.h"
#include "common/config/recipe.h"

namespace ftl {
namespace {

std::string DataDir() {
  static const std::string dir = [] {
    const std::string d = ::testing::TempDir() + "/config_test_data";
    std::filesystem::create_directories(d + "/alice");
    return d;
  }();
  return dir;
}

absl::StatusOr<JobConfig> Parse(const std::string& json) {
  absl::StatusOr<v1::JobSpec> spec = JobSpecFromJson(json);
  if (!spec.ok()) return spec.status();
  return JobConfigFromSpec(*spec);
}

std::string WithData(const std::string& extra) {
  return R"({"data": {"path": ")" + DataDir() + R"("})" + extra + "}";
}

TEST(JobConfigTest, DefaultsFollowThePaper) {
  absl::StatusOr<JobConfig> c = Parse(WithData(""));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->loss.sfmx, 1.0);
  EXPECT_EQ(c->loss.recon, 1.0);
  EXPECT_EQ(c->loss.reg, 0.25);
  EXPECT_EQ(c->data.ur_max_images, 20);
  EXPECT_EQ(c->training.pretrain_lr, 2e-4);
  EXPECT_EQ(c->training.stage1_lr, 1e-5);
  EXPECT_EQ(c->training.method, Method::kFtl);
  EXPECT_EQ(c->preset, "small");
  EXPECT_EQ(c->evaluation.train_top1_max_images, 50000);  // ours, not the paper's
  absl::StatusOr<JobConfig> all =
      Parse(WithData(R"(, "evaluation": {"train_top1_max_images": 0})"));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->evaluation.train_top1_max_images, 0);
}

// Issue 13's switches: reductions, logit adjustment, sampling, the transfer ablation, the starting
// checkpoint; each bad value refused naming its field.
TEST(JobConfigTest, LossReductionsSamplingTransferAndInitCheckpoint) {
  absl::StatusOr<JobConfig> d = Parse(WithData(""));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->loss.ml2_reduction, Reduction::kMean);
  EXPECT_EQ(d->loss.recon_reduction, Reduction::kMean);
  EXPECT_EQ(d->loss.logit_adjust_tau, 0.0);
  EXPECT_EQ(d->training.pretrain_sampling, Sampling::kInstance);
  EXPECT_EQ(d->training.stage1_third_batch, ThirdBatch::kTransfer);
  EXPECT_TRUE(d->training.init_checkpoint.empty());

  const std::string checkpoint = DataDir() + "/start.ftlckpt";
  std::ofstream(checkpoint) << "x";
  absl::StatusOr<JobConfig> c = Parse(WithData(
      R"(, "loss": {"ml2_reduction": "sum", "recon_reduction": "sum", "logit_adjust_tau": 1},
         "training": {"pretrain_sampling": "class_balanced", "stage1_transfer": false,
                      "init_checkpoint": ")" +
      checkpoint + R"("})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->loss.ml2_reduction, Reduction::kSum);
  EXPECT_EQ(c->loss.recon_reduction, Reduction::kSum);
  EXPECT_EQ(c->loss.logit_adjust_tau, 1.0);
  EXPECT_EQ(c->training.pretrain_sampling, Sampling::kClassBalanced);
  EXPECT_EQ(c->training.stage1_third_batch, ThirdBatch::kNone);  // stage1_transfer: false
  EXPECT_EQ(c->training.init_checkpoint, checkpoint);
  for (const char* kind : {"transfer", "none", "ur", "center", "center_noise", "random_basis"}) {
    absl::StatusOr<JobConfig> k =
        Parse(WithData(absl::StrCat(R"(, "training": {"stage1_third_batch": ")", kind, R"("})")));
    ASSERT_TRUE(k.ok()) << k.status();
    EXPECT_STREQ(ThirdBatchName(k->training.stage1_third_batch), kind);
  }

  for (const auto& [extra, field] : std::vector<std::pair<std::string, std::string>>{
           {R"(, "loss": {"ml2_reduction": "max"})", "loss.ml2_reduction"},
           {R"(, "loss": {"recon_reduction": "avg"})", "loss.recon_reduction"},
           {R"(, "loss": {"logit_adjust_tau": -1})", "loss.logit_adjust_tau"},
           {R"(, "training": {"pretrain_sampling": "balanced"})", "training.pretrain_sampling"},
           {R"(, "training": {"stage1_third_batch": "noise"})", "training.stage1_third_batch"},
           {R"(, "training": {"stage1_third_batch": "ur", "stage1_transfer": true})",
            "training.stage1_transfer"}}) {
    absl::StatusOr<JobConfig> bad = Parse(WithData(extra));
    ASSERT_FALSE(bad.ok()) << extra;
    EXPECT_NE(bad.status().message().find(field), std::string::npos) << bad.status();
  }
}

// Issue 18's heads: arcface_torch's margin defaults, explicit margins, and the combinations that
// make no sense refused naming the field.
TEST(JobConfigTest, MarginHeadsTakeArcFaceTorchDefaults) {
  absl::StatusOr<JobConfig> d = Parse(WithData(""));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->loss.head.kind, HeadKind::kSoftmax);
  EXPECT_FALSE(d->data.random_flip);
  absl::StatusOr<JobConfig> arc = Parse(WithData(R"(, "loss": {"head": "arcface"})"));
  ASSERT_TRUE(arc.ok()) << arc.status();
  EXPECT_EQ(arc->loss.head.kind, HeadKind::kArcFace);
  EXPECT_EQ(arc->loss.head.scale, 64.0);
  EXPECT_EQ(arc->loss.head.m1, 1.0);
  EXPECT_EQ(arc->loss.head.m2, 0.5);
  EXPECT_EQ(arc->loss.head.m3, 0.0);
  EXPECT_EQ(arc->loss.reg, 0.0) << "a margin head has no m-L2";
  absl::StatusOr<JobConfig> cos =
      Parse(WithData(R"(, "loss": {"head": "cosface", "head_scale": 30})"));
  ASSERT_TRUE(cos.ok()) << cos.status();
  EXPECT_EQ(cos->loss.head.m3, 0.4);
  EXPECT_EQ(cos->loss.head.scale, 30.0);
  absl::StatusOr<JobConfig> combined = Parse(WithData(
      R"(, "loss": {"head": "combined", "margin_m1": 1.0, "margin_m2": 0.3, "margin_m3": 0.2})"));
  ASSERT_TRUE(combined.ok()) << combined.status();
  EXPECT_EQ(combined->loss.head.m2, 0.3);
  EXPECT_EQ(combined->loss.head.m3, 0.2);

  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"(, "loss": {"head": "sphereface"})", "loss.head: must be one of softmax, cosface"},
      {R"(, "loss": {"margin_m2": 0.5})", "need a margin head"},
      {R"(, "loss": {"head": "arcface", "alpha_reg": 0.25})", "loss.alpha_reg: must be 0"},
      {R"(, "loss": {"head": "arcface"}, "training": {"method": "softmax_ml2"})",
       "softmax_ml2 needs loss.head softmax"},
      {R"(, "loss": {"head": "arcface", "margin_m3": 0.1})", "use head \"combined\""},
      {R"(, "loss": {"head": "cosface", "easy_margin": true})", "loss.easy_margin"},
      {R"(, "loss": {"head": "arcface", "margin_m2": 2})", "loss.margin_m2: must be in"},
  };
  for (const auto& [extra, message] : refused) {
    absl::StatusOr<JobConfig> c = Parse(WithData(extra));
    ASSERT_FALSE(c.ok()) << extra;
    EXPECT_NE(c.status().message().find(message), std::string::npos) << c.status();
  }
  absl::StatusOr<JobConfig> baseline =
      Parse(WithData(R"(, "loss": {"head": "arcface"}, "training": {"method": "softmax"})"));
  EXPECT_TRUE(baseline.ok()) << baseline.status();
}

// What every arcface_torch backbone starts with: 112x112 colour, a 512-d embedding, R an MLP, and
// no decoder, so no reconstruction term.
void ExpectArcFaceTorchDefaults(const JobConfig& c) {
  EXPECT_EQ(c.model.input_size, 112);
  EXPECT_EQ(c.model.channels, 3);
  EXPECT_EQ(c.model.feature_dim, 512);
  EXPECT_EQ(c.model.filter, FilterKind::kMlp);
  EXPECT_FALSE(c.model.has_decoder());
  EXPECT_EQ(c.loss.recon, 0.0) << "no decoder: the reconstruction term is off";
}

// Issue 18's backbones: arcface_torch's IResNets with their sizes, R chosen, no decoder.
TEST(JobConfigTest, IResNetBackbonesHaveNoDecoder) {
  absl::StatusOr<JobConfig> c = Parse(WithData(R"(, "model": {"backbone": "iresnet50"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->preset, "iresnet50");
  EXPECT_EQ(c->model.backbone, BackboneKind::kIResNet);
  EXPECT_EQ(c->model.blocks, (std::vector<int>{3, 4, 14, 3}));
  ExpectArcFaceTorchDefaults(*c);
  absl::StatusOr<JobConfig> identity =
      Parse(WithData(R"(, "model": {"backbone": "iresnet18", "filter": "identity"})"));
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->model.filter, FilterKind::kIdentity);
  absl::StatusOr<JobConfig> paper = Parse(WithData(R"(, "model": {"backbone": "paper"})"));
  ASSERT_TRUE(paper.ok()) << paper.status();
  EXPECT_TRUE(paper->model.has_decoder());
  EXPECT_EQ(paper->model.filter, FilterKind::kPaper);

  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"(, "model": {"backbone": "resnet50"})", "model.backbone: unknown \"resnet50\""},
      {R"(, "model": {"backbone": "iresnet18", "preset": "small"})", "differ; give one"},
      {R"(, "model": {"backbone": "iresnet18", "filter": "paper"})",
       "model.filter: must be one of mlp, identity"},
      {R"(, "model": {"backbone": "small", "filter": "mlp"})", "is for arcface_torch's backbones"},
      {R"(, "model": {"backbone": "iresnet18", "input_size": 100})", "multiple of 16"},
      {R"(, "model": {"backbone": "iresnet18"}, "loss": {"alpha_recon": 0.5})",
       "loss.alpha_recon: must be 0 with model.backbone iresnet18"},
  };
  for (const auto& [extra, message] : refused) {
    absl::StatusOr<JobConfig> r = Parse(WithData(extra));
    ASSERT_FALSE(r.ok()) << extra;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status();
  }
}

TEST(JobConfigTest, ClassifierShardingIsReplicatedUnlessAskedAndNotPartOfTheRecipe) {
  absl::StatusOr<JobConfig> plain = Parse(WithData(""));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->classifier_sharding, ClassifierSharding::kReplicated);
  absl::StatusOr<JobConfig> sharded =
      Parse(WithData(R"(, "model": {"classifier_sharding": "sharded"})"));
  ASSERT_TRUE(sharded.ok()) << sharded.status();
  EXPECT_EQ(sharded->classifier_sharding, ClassifierSharding::kSharded);
  absl::StatusOr<JobConfig> replicated =
      Parse(WithData(R"(, "model": {"classifier_sharding": "replicated"})"));
  ASSERT_TRUE(replicated.ok()) << replicated.status();
  EXPECT_EQ(replicated->classifier_sharding, ClassifierSharding::kReplicated);
  // Where the rows live does not change a step: a job resumes under the other setting.
  EXPECT_TRUE(RecipeDifferences(TrainingRecipe(*plain), TrainingRecipe(*sharded)).empty());
  absl::StatusOr<JobConfig> bad =
      Parse(WithData(R"(, "model": {"classifier_sharding": "partial"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(
                "model.classifier_sharding: must be one of replicated, sharded; got \"partial\""),
            std::string::npos)
      << bad.status();
}

// arcface_torch's MobileFaceNet (get_mbf) is configured as the IResNets are: its layout, R chosen,
// no decoder, an input side that is a multiple of 16.
TEST(JobConfigTest, MobileFaceNetIsAnArcFaceTorchBackbone) {
  absl::StatusOr<JobConfig> c = Parse(WithData(R"(, "model": {"backbone": "mobilefacenet"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->preset, "mobilefacenet");
  EXPECT_EQ(c->model.backbone, BackboneKind::kMobileFaceNet);
  EXPECT_EQ(c->model.blocks, (std::vector<int>{1, 4, 6, 2}));
  EXPECT_EQ(c->model.width_scale, 2);
  ExpectArcFaceTorchDefaults(*c);
  absl::StatusOr<JobConfig> small = Parse(WithData(
      R"(, "model": {"backbone": "mobilefacenet", "filter": "identity", "input_size": 32})"));
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(small->model.filter, FilterKind::kIdentity);
  EXPECT_EQ(small->model.input_size, 32);
  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"(, "model": {"backbone": "mobilefacenet", "input_size": 40})",
       "model.input_size: mobilefacenet needs a multiple of 16"},
      {R"(, "model": {"backbone": "mobilefacenet", "filter": "paper"})",
       "model.filter: must be one of mlp, identity"},
      {R"(, "model": {"backbone": "mobilefacenet"}, "loss": {"alpha_recon": 0.5})",
       "loss.alpha_recon: must be 0 with model.backbone mobilefacenet"},
  };
  for (const auto& [extra, message] : refused) {
    absl::StatusOr<JobConfig> r = Parse(WithData(extra));
    ASSERT_FALSE(r.ok()) << extra;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status();
  }
}

// training.optimizer applies to every phase; a phase's own spec overrides it field by field.
TEST(JobConfigTest, OptimizerSpecsMergePerPhase) {
  absl::StatusOr<JobConfig> d = Parse(WithData(""));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->training.pretrain_optimizer.kind, OptimizerKind::kAdam);
  EXPECT_EQ(d->training.stage2_optimizer.schedule, LrSchedule::kConstant);
  EXPECT_EQ(d->training.stage1_optimizer.clip_grad_norm, 0.0);
  absl::StatusOr<JobConfig> c =
      Parse(R"({"data": {"path": ")" + DataDir() + R"(", "random_flip": true,
                             "random_crop_pixels": 4},
      "training": {"optimizer": {"type": "sgd", "weight_decay": 5e-4, "schedule": "poly",
                                 "warmup_iterations": 100, "clip_grad_norm": 5},
                   "stage1_optimizer": {"schedule": "cosine", "momentum": 0.5},
                   "stage2_optimizer": {"type": "adam", "weight_decay": 0}}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->data.random_flip);
  EXPECT_EQ(c->data.random_crop_pixels, 4);
  EXPECT_EQ(d->data.random_crop_pixels, 0);
  absl::StatusOr<JobConfig> too_big_crop =
      Parse(R"({"data": {"path": ")" + DataDir() + R"(", "random_crop_pixels": 17},
                "model": {"input_size": 64}})");
  ASSERT_FALSE(too_big_crop.ok());
  EXPECT_NE(too_big_crop.status().message().find("more than a quarter of model.input_size 64"),
            std::string::npos)
      << too_big_crop.status();
  const OptimizerConfig& pre = c->training.pretrain_optimizer;
  EXPECT_EQ(pre.kind, OptimizerKind::kSgd);
  EXPECT_EQ(pre.momentum, 0.9);
  EXPECT_EQ(pre.weight_decay, 5e-4);
  EXPECT_EQ(pre.schedule, LrSchedule::kPoly);
  EXPECT_EQ(pre.warmup_iterations, 100);
  EXPECT_EQ(pre.clip_grad_norm, 5.0);
  const OptimizerConfig& s1 = c->training.stage1_optimizer;
  EXPECT_EQ(s1.kind, OptimizerKind::kSgd);
  EXPECT_EQ(s1.schedule, LrSchedule::kCosine);
  EXPECT_EQ(s1.momentum, 0.5);
  EXPECT_EQ(s1.warmup_iterations, 100);
  const OptimizerConfig& s2 = c->training.stage2_optimizer;
  EXPECT_EQ(s2.kind, OptimizerKind::kAdam);
  EXPECT_EQ(s2.weight_decay, 0.0);
  EXPECT_EQ(s2.schedule, LrSchedule::kPoly);

  const std::vector<std::pair<std::string, std::string>> refused = {
      {R"(, "training": {"optimizer": {"type": "lamb"}})",
       "training.pretrain_optimizer.type: must be one of adam, sgd"},
      {R"(, "training": {"stage2_optimizer": {"schedule": "step"}})",
       "training.stage2_optimizer.schedule"},
      {R"(, "training": {"optimizer": {"momentum": 0.9}})", "apply to type \"sgd\" only"},
      {R"(, "training": {"optimizer": {"type": "sgd", "momentum": 0, "nesterov": true}})",
       "nesterov: needs momentum > 0"},
      {R"(, "training": {"stage1_optimizer": {"clip_grad_norm": -1}})",
       "training.stage1_optimizer.clip_grad_norm: must be in"},
  };
  for (const auto& [extra, message] : refused) {
    absl::StatusOr<JobConfig> r = Parse(WithData(extra));
    ASSERT_FALSE(r.ok()) << extra;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status();
  }
}

TEST(JobConfigTest, PaperPresetIs100By100WithD320) {
  absl::StatusOr<JobConfig> c = Parse(WithData(R"(, "model": {"preset": "paper"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model.input_size, 100);
  EXPECT_EQ(c->model.feature_dim, 320);
}

TEST(JobConfigTest, ExplicitZeroIsNotDefault) {
  absl::StatusOr<JobConfig> c = Parse(WithData(R"(, "loss": {"alpha_reg": 0})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->loss.reg, 0.0);
}

TEST(JobConfigTest, SoftmaxBaselineDropsMetricL2) {
  absl::StatusOr<JobConfig> c = Parse(WithData(R"(, "training": {"method": "softmax"})"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->loss.reg, 0.0);
}

void ExpectRefused(const std::string& json, const std::string& field) {
  absl::StatusOr<JobConfig> c = Parse(json);
  ASSERT_FALSE(c.ok()) << json;
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find(field), std::string::npos)
      << "message '" << c.status().message() << "' does not name " << field;
}

TEST(JobConfigTest, BadValuesAreRefusedNamingTheField) {
  ExpectRefused(WithData(R"(, "training": {"batch_size": 0})"), "training.batch_size");
  ExpectRefused(WithData(R"(, "training": {"stage_iterations": -5})"), "training.stage_iterations");
  ExpectRefused(WithData(R"(, "training": {"method": "magic"})"), "training.method");
  ExpectRefused(WithData(R"(, "model": {"preset": "huge"})"), "model.preset");
  ExpectRefused(WithData(R"(, "model": {"channels": 2})"), "model.channels");
  ExpectRefused(WithData(R"(, "loss": {"alpha_reg": -1})"), "loss.alpha_reg");
  ExpectRefused(WithData(R"(, "training": {"pca_energy": 1.5})"), "training.pca_energy");
  ExpectRefused(R"({"data": {"path": "/no/such/folder"}})", "data.path");
  ExpectRefused(R"({"model": {}})", "data");
  ExpectRefused(R"({"data": {"format": "tfrecord", "path": "x"}})", "data.format");
  ExpectRefused(WithData(R"(, "runtime": {"device": "gpu"})"), "runtime.device");
  ExpectRefused(WithData(R"(, "evaluation": {"train_top1_max_images": -1})"),
                "evaluation.train_top1_max_images");
}

// NaN compares false with every bound, so a plain range check lets it through (issue 16).
TEST(JobConfigTest, NonFiniteNumbersAreRefusedNamingTheField) {
  for (const char* value : {R"("NaN")", R"("Infinity")", R"("-Infinity")"}) {
    for (const auto& [section, field] : std::vector<std::pair<std::string, std::string>>{
             {"training", "pretrain_lr"},
             {"training", "pca_energy"},
             {"loss", "alpha_reg"},
             {"loss", "logit_adjust_tau"},
             {"data", "yaw_tau"},
             {"runtime", "collective_timeout_seconds"}}) {
      const std::string json =
          section == "data"
              ? R"({"data": {"path": ")" + DataDir() + R"(", "yaw_tau": )" + value + "}}"
              : WithData(", \"" + section + "\": {\"" + field + "\": " + value + "}");
      absl::StatusOr<JobConfig> c = Parse(json);
      ASSERT_FALSE(c.ok()) << json;
      EXPECT_NE(c.status().message().find(section + "." + field), std::string::npos)
          << c.status().message();
      EXPECT_NE(c.status().message().find("finite"), std::string::npos) << c.status().message();
    }
  }
}

TEST(JobConfigTest, RuntimeDeviceAndPrecisionSwitches) {
  absl::StatusOr<JobConfig> defaults = Parse(WithData(""));
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->runtime.device, "auto");
  EXPECT_TRUE(defaults->runtime.bf16_autocast);
  EXPECT_FALSE(defaults->runtime.overlap_allreduce.has_value());  // by device
  absl::StatusOr<JobConfig> set = Parse(WithData(
      R"(, "runtime": {"device": "cuda", "bf16_autocast": false, "overlap_allreduce": false})"));
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->runtime.device, "cuda");
  EXPECT_FALSE(set->runtime.bf16_autocast);
  EXPECT_EQ(set->runtime.overlap_allreduce, std::optional<bool>(false));
}

TEST(JobConfigTest, StreamingDefaultsAndLimits) {
  absl::StatusOr<JobConfig> in_memory = Parse(WithData(""));
  ASSERT_TRUE(in_memory.ok()) << in_memory.status();
  EXPECT_FALSE(in_memory->data.streaming);
  EXPECT_EQ(in_memory->data.loader_threads, 0);  // in memory a batch is one copy
  EXPECT_EQ(in_memory->data.prefetch_batches, 4);
  const std::string streamed_json =
      R"({"data": {"streaming": true, "path": ")" + DataDir() + R"("}})";
  absl::StatusOr<JobConfig> streamed = Parse(streamed_json);
  ASSERT_TRUE(streamed.ok()) << streamed.status();
  EXPECT_TRUE(streamed->data.streaming);
  EXPECT_EQ(streamed->data.loader_threads, 2);
  absl::StatusOr<JobConfig> explicit_zero = Parse(
      R"({"data": {"streaming": true, "loader_threads": 0, "prefetch_batches": 9, "path": ")" +
      DataDir() + R"("}})");
  ASSERT_TRUE(explicit_zero.ok()) << explicit_zero.status();
  EXPECT_EQ(explicit_zero->data.loader_threads, 0);
  EXPECT_EQ(explicit_zero->data.prefetch_batches, 9);
  ExpectRefused(R"({"data": {"loader_threads": 65, "path": ")" + DataDir() + R"("}})",
                "data.loader_threads");
  ExpectRefused(R"({"data": {"prefetch_batches": 0, "path": ")" + DataDir() + R"("}})",
                "data.prefetch_batches");
  const std::string idx = DataDir() + "/images.idx";
  std::ofstream(idx) << "x";
  ExpectRefused(R"({"data": {"format": "idx", "streaming": true, "path": ")" + idx +
                    R"(", "labels_path": ")" + idx + R"("}})",
                "data.streaming");
}

TEST(JobConfigTest, UnknownFieldsAndBrokenJsonAreRefused) {
  ExpectRefused(WithData(R"(, "trainig": {})"), "trainig");
  EXPECT_FALSE(Parse("{not json").ok());
}

TEST(JobConfigTest, LoadsAFileAndNamesItInErrors) {
  const std::string path = ::testing::TempDir() + "/bad_config.json";
  std::ofstream(path) << WithData(R"(, "training": {"rounds": -1})");
  absl::StatusOr<JobConfig> c = LoadJobConfigFile(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find(path), std::string::npos);
  EXPECT_NE(c.status().message().find("training.rounds"), std::string::npos);
  EXPECT_EQ(LoadJobConfigFile("/no/such/config.json").status().code(), absl::StatusCode::kNotFound);
}

TEST(JobConfigTest, TheDefaultOutputFolderIsNamedAfterTheJob) {
  absl::StatusOr<JobConfig> named =
      Parse(R"({"name": "my job/1", "data": {"path": ")" + DataDir() + R"("}})");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->runtime.output_dir.rfind("ftl-output/my-job-1-", 0), 0u)
      << named->runtime.output_dir;
  EXPECT_EQ(named->runtime.output_dir.size(), std::string("ftl-output/my-job-1-").size() + 8);
  absl::StatusOr<JobConfig> unnamed = Parse(WithData(""));
  ASSERT_TRUE(unnamed.ok()) << unnamed.status();
  EXPECT_EQ(unnamed->runtime.output_dir, "ftl-output/ftl-job");
  absl::StatusOr<JobConfig> given = Parse(R"({"name": "a", "data": {"path": ")" + DataDir() +
                                          R"("}, "runtime": {"output_dir": "/tmp/x"}})");
  ASSERT_TRUE(given.ok()) << given.status();
  EXPECT_EQ(given->runtime.output_dir, "/tmp/x");
  EXPECT_EQ(DefaultOutputDir("..").rfind("ftl-output/ftl-job-", 0), 0u);  // never the parent
  EXPECT_EQ(DefaultOutputDir(""), "ftl-output/ftl-job");
  EXPECT_EQ(DefaultOutputDir("a.b_c-D9"), "ftl-output/a.b_c-D9");  // kept as it is
  // Names that differ only in what is made '-' get folders of their own.
  EXPECT_NE(DefaultOutputDir("a b"), DefaultOutputDir("a/b"));
  EXPECT_NE(DefaultOutputDir("a b"), DefaultOutputDir("a-b"));
  EXPECT_NE(DefaultOutputDir("日本"), DefaultOutputDir("中国"));
}

TEST(JobConfigTest, AnUnknownFieldSuggestsTheNearestKnownName) {
  const std::vector<std::pair<std::string, std::string>> typos = {
      {R"({"trainig": {}})", "Did you mean 'training'?"},
      {R"({"data": {"pathh": "x"}})", "Did you mean 'path'?"},
      {R"({"training": {"stage1lr": 0.1}})", "Did you mean 'stage1_lr'?"},
  };
  for (const auto& [json, hint] : typos) {
    absl::StatusOr<v1::JobSpec> spec = JobSpecFromJson(json);
    ASSERT_FALSE(spec.ok()) << json;
    EXPECT_NE(spec.status().message().find(hint), std::string::npos) << spec.status();
  }
  absl::StatusOr<v1::JobSpec> far = JobSpecFromJson(R"({"qqqqqqqq": 1})");
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.status().message().find("Did you mean"), std::string::npos) << far.status();
}

TEST(JobConfigTest, AJobNameWithControlCharactersIsRefused) {
  for (const std::string name : {std::string("a\nb"), std::string("\x1b[2J"),
                                 std::string("csi \xc2\x9b"), std::string("del\x7f")}) {
    const absl::Status checked = CheckJobName(name);
    EXPECT_EQ(checked.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(checked.message().rfind("name: ", 0), 0u) << checked;
  }
  EXPECT_TRUE(CheckJobName("Ärger-日本 1 (nbsp\xc2\xa0)").ok());
}

// Every setting that changes a run is one named difference; paths, runtime settings, evaluation
// and training.rounds are none.
TEST(RecipeTest, NamesExactlyTheChangedTrainingSetting) {
  const std::string base = DataDir();
  absl::StatusOr<JobConfig> plain = Parse(WithData(""));
  ASSERT_TRUE(plain.ok()) << plain.status();
  const RecipeFields recipe = TrainingRecipe(*plain);
  EXPECT_EQ(ParseRecipe(EncodeRecipe(recipe)), recipe);
  EXPECT_TRUE(RecipeDifferences(recipe, recipe).empty());
  // Each change and the fields it must be named by (a margin head and plain softmax also take
  // alpha_reg 0, a margin head its default margin; training.optimizer sets all three phases).
  const std::vector<std::pair<std::string, std::vector<std::string>>> changes = {
      {R"(, "loss": {"head": "arcface", "alpha_reg": 0})", {"loss.reg", "loss.head", "loss.m2"}},
      {R"(, "loss": {"alpha_reg": 0.001})", {"loss.reg"}},
      {"flip", {"data.random_flip"}},
      {R"(, "loss": {"logit_adjust_tau": 1})", {"loss.logit_adjust_tau"}},
      {R"(, "model": {"backbone": "paper"})", {"model.network"}},
      {R"(, "training": {"method": "softmax"})", {"training.method", "loss.reg"}},  // no m-L2
      {R"(, "training": {"batch_size": 16})", {"training.batch_size"}},
      {R"(, "training": {"seed": 7})", {"training.seed"}},
      {R"(, "training": {"stage1_lr": 1.000001e-5})", {"training.stage1_lr"}},
      {R"(, "training": {"stage_iterations": 9})", {"training.stage_iterations"}},
      {R"(, "training": {"pretrain_iterations": 9})", {"training.pretrain_iterations"}},
      {R"(, "training": {"stage1_third_batch": "none"})", {"training.stage1_third_batch"}},
      {R"(, "training": {"stage2_optimizer": {"type": "sgd"}})",
       {"training.stage2_optimizer.kind"}},
      {R"(, "training": {"optimizer": {"weight_decay": 0.0005}})",
       {"training.pretrain_optimizer.weight_decay", "training.stage1_optimizer.weight_decay",
        "training.stage2_optimizer.weight_decay"}},
  };
  for (const auto& [extra, fields] : changes) {
    absl::StatusOr<JobConfig> changed = Parse(WithData(extra));
    if (extra == "flip")
      changed = Parse(R"({"data": {"random_flip": true, "path": ")" + base + R"("}})");
    ASSERT_TRUE(changed.ok()) << extra << ": " << changed.status();
    std::vector<std::string> named;
    for (const std::string& d : RecipeDifferences(recipe, TrainingRecipe(*changed))) {
      named.push_back(d.substr(0, d.find(':')));
      EXPECT_NE(d.find(" in the checkpoint, "), std::string::npos) << d;
    }
    std::vector<std::string> expected = fields;
    std::sort(named.begin(), named.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(named, expected) << extra;
  }
  for (const std::string& extra : std::vector<std::string>{
           R"(, "training": {"rounds": 9})", R"(, "runtime": {"ranks": 4, "output_dir": "/tmp/o"})",
           R"(, "name": "other")", R"(, "evaluation": {"holdout_path": ")" + base + R"("})"}) {
    absl::StatusOr<JobConfig> changed = Parse(WithData(extra));
    ASSERT_TRUE(changed.ok()) << extra << ": " << changed.status();
    EXPECT_TRUE(RecipeDifferences(recipe, TrainingRecipe(*changed)).empty()) << extra;
  }
  // A field one side lacks (another release's) is no difference, either way.
  RecipeFields shorter(recipe.begin() + 1, recipe.end());
  EXPECT_TRUE(RecipeDifferences(shorter, recipe).empty());
  EXPECT_TRUE(RecipeDifferences(recipe, shorter).empty());
  shorter.back().second += "0";
  EXPECT_EQ(RecipeDifferences(shorter, recipe).size(), 1u);
}

}  // namespace
}  // namespace ftl
