#!/usr/bin/env bash
# Mutation check of the method's tests (not part of CI: about 25 minutes on 2 cores). Each named
# mutation is applied to the source, the tests that guard it are rebuilt and run, and the source is
# restored; a mutation that no test catches is reported as SURVIVED and the script exits 1.
#   bash tests/mutations.sh [BUILD_DIR]      (default build/, configured by scripts/setup.sh)
#   ONLY='regex' bash tests/mutations.sh     (only the mutations whose name matches)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
export OMP_NUM_THREADS=1

# name | file | sed expression (must change the file) | test binaries that must fail
mutations=(
  "stage 1 transfers f instead of g|common/train/trainer.cc|s/TransferFeatures(g_regular, y_regular, y_ur, s.centers, s.basis)/TransferFeatures(const_cast<Trainer*>(this)->model_->filter->forward(g_regular), y_regular, y_ur, s.centers, s.basis)/|stage1_reference_test"
  "stage 1 swaps y_r and y_u|common/train/trainer.cc|s/TransferFeatures(g_regular, y_regular, y_ur,/TransferFeatures(g_regular, y_ur, y_regular,/|stage1_reference_test"
  "stage 1 offsets by c[y_u]|common/train/trainer.cc|s/TransferFeatures(g_regular, y_regular, y_ur,/TransferFeatures(g_regular, y_ur, y_ur,/|stage1_reference_test"
  "stage 1 skips the transferred batch|common/train/trainer.cc|s/Step(optimizers_->stage1, \*stage1_averager_, transfer_terms.total);/(void)transfer_terms;/|stage1_reference_test"
  "the center_noise control scales by the eigenvalues, not their square roots|common/ftl/transfer.cc|s/clamp_min(0).sqrt().to(centers.device()/clamp_min(0).to(centers.device()/|ftl_math_test stage1_reference_test"
  "the center_noise control takes V's sum for a covariance|common/train/trainer.cc|s/s.eigenvalues \/ static_cast<double>(regular_samples_)/s.eigenvalues/|stage1_reference_test"
  "the random_basis control uses V's own basis|common/train/trainer.cc|s/TransferFeatures(g_regular, y_regular, y_ur, s.centers, basis), y_ur}/TransferFeatures(g_regular, y_regular, y_ur, s.centers, s.basis), y_ur}/|stage1_reference_test"
  "the ur control draws its second batch from the first UR stream|common/train/trainer.cc|s/t.seed, SampleStream::kStageOneSecondUr);/t.seed, SampleStream::kStageOneUr);/|stage1_reference_test"
  "the step-matched control gets FTL's iterations, not its classifier steps|common/experiment/variants.cc|s/continued(\"_steps\", 4,/continued(\"_steps\", 2,/|experiment_variants_test"
  "the ur control's second batch counts no images|common/experiment/variants.cc|s/(plan.third_batch == ThirdBatch::kUr ? 1 : 0)/0/|experiment_variants_test"
  "tuning ties go to the larger of two values equally far from the centre|common/experiment/tuning.cc|s/better = DistanceFromCentre(axis, value) < DistanceFromCentre(axis, best);/better = DistanceFromCentre(axis, value) <= DistanceFromCentre(axis, best);/|experiment_tuning_test"
  "the learning-rate axis is never widened|common/experiment/tuning.cc|s/{3 \\* lr, lr, lr \\/ 3}, 3.0, 2, {}/{3 * lr, lr, lr \\/ 3}, 3.0, 0, {}/|experiment_tuning_test"
  "a later axis retrains the point the previous one chose|common/experiment/tuning.cc|s/scored_\\[centre\\] = best_score;/(void)best_score;/|experiment_tuning_test"
  "the continued variants never try alpha_reg 0|common/experiment/tuning.cc|s/^ *{0.0}});/{}});/|experiment_tuning_test"
  "a failed tuning run scores as a finished one with score 0|common/experiment/tuning.cc|s/std::isnan(raw) ? -std::numeric_limits<double>::infinity() : raw/std::isnan(raw) ? 0.0 : raw/|experiment_tuning_test"
  "the class-balanced loss weighs by inverse counts, not effective numbers|common/ftl/losses.cc|s/const torch::Tensor w = (1.0 - beta) \\/ (1.0 - torch::pow(beta, n));/const torch::Tensor w = 1.0 \\/ n;/|ftl_math_test"
  "the class-balanced loss divides by the batch's weight sum|common/ftl/losses.cc|s/index_select(0, labels)).mean();/index_select(0, labels)).sum() \\/ class_weights.to(logits.dtype()).index_select(0, labels).sum();/|ftl_math_test"
  "paired differences count an equal seed as FTL higher|common/experiment/statistics.cc|s/p.higher += a\\[k\\] > b\\[k\\];/p.higher += a[k] >= b[k];/|experiment_tuning_test"
  "drawn roles ignore the split seed|common/protocol/protocol.cc|s/StreamFor(options.seed, \"\", 2)/StreamFor(1, \"\", 2)/|protocol_test"
  "UR validation beyond the budget fitted on|common/protocol/protocol.cc|s/      split.fit.insert(split.fit.end(), next, next + s.train);/      split.fit.insert(split.fit.end(), next, next + s.train + s.validation);/|protocol_test"
  "UpdateStats flips the wrong axis|common/train/trainer.cc|s/x.flip({3})/x.flip({2})/|stage1_reference_test"
  "init_checkpoint replays the first batches|common/train/trainer.cc|s/  pretrain_step_ = checkpoint.pretrain_step;/  pretrain_step_ = 0;/|stage1_reference_test"
  "unlisted yaw counts as frontal|common/data/dataset.cc|s/std::numeric_limits<float>::quiet_NaN())/0.0f)/|data_test"
  "the classifier leaves m-L2 out of the softmax head's terms|common/classifier/replicated_classifier.cc|s/  if (loss_.head.kind == HeadKind::kSoftmax) terms.reg = MetricL2Loss(logits, loss_.ml2_reduction);/  (void)logits;/|margin_head_test stage1_reference_test"
  "the classifier forgets logit adjustment and the class-balanced weights|common/classifier/replicated_classifier.cc|s/SoftmaxLoss(logits, labels, log_prior_, loss_.logit_adjust_tau, class_weights_)/SoftmaxLoss(logits, labels)/|margin_head_test"
  "the classifier's prediction reports the largest logit as a probability|common/classifier/replicated_classifier.cc|s/torch::softmax(logits, 1).max(1)/logits.max(1)/|margin_head_test"
  "the replicated classifier's gradients are not averaged across ranks|common/classifier/replicated_classifier.h|s/bool averages_gradients() const override { return true; }/bool averages_gradients() const override { return false; }/|distributed_test"
  "checkpoints leave the classifier out|common/train/checkpoint_schema.cc|s/: c.classifier) out.tensors/: TensorMap()) out.tensors/|trainer_test"
  "GatherRows' backward without the factor R|common/classifier/distributed_ops.cc|s/return {block \\* static_cast<double>(comm.size()), torch::Tensor()};/return {block, torch::Tensor()};/|distributed_test"
  "the sharded softmax takes each rank's own row maximum|common/classifier/distributed_ops.cc|s/    comm.AllReduceMax(maxima);/    (void)comm;/|distributed_test"
  "the sharded softmax counts a target logit on every rank|common/classifier/distributed_ops.cc|s/      columns >= 0, local_logits.gather/      columns >= -1, local_logits.gather/|distributed_test"
  "sharded m-L2 divides by the shard's classes|common/classifier/distributed_ops.cc|s/total \\/ (rows \\* static_cast<double>(num_classes))/total \\/ (rows * static_cast<double>(local_logits.size(1)))/|distributed_test"
  "the class partition gives the extra classes to the last ranks|common/classifier/class_partition.cc|s/range.count = base + (rank < extra ? 1 : 0);/range.count = base + (rank >= ranks - extra ? 1 : 0);/|classifier_test"
  "the sharded prediction takes the lowest rank's argmax, not the highest logit's class|common/classifier/sharded_classifier.cc|s/  comm_.AllReduceMax(negated_ids);/  (void)negated_ids;/|distributed_test"
  "sharded logit adjustment uses the first classes' prior on every rank|common/classifier/sharded_classifier.cc|s/tensors.log_prior.slice(0, range_.start, range_.end())/tensors.log_prior.slice(0, 0, range_.count)/|distributed_test"
  "the sharded classifier's initial rows depend on the rank count|common/classifier/sharded_classifier.cc|s/BlockSeed(seed, block))/BlockSeed(seed, block + range.start))/|distributed_test"
  "the sharded checkpoint entry holds only this rank's rows|common/classifier/sharded_classifier.cc|s/return {{kWeightName, EveryClassRows(weight_.detach())}};/return {{kWeightName, weight_.detach()}};/|distributed_test"
  "sharded clipping leaves out the other ranks' rows|common/optim/optimizer.cc|s/std::sqrt(same_everywhere + sum_across_ranks(own))/std::sqrt(same_everywhere + own)/|optimizer_test distributed_test"
  "the trainer clips a sharded classifier's rows as if every rank held them|common/train/trainer.cc|s/classifier_->named_parameters().values(), \\[this\\](double own) {/std::vector<torch::Tensor>{}, [this](double own) {/|distributed_test"
  "the trainer builds a replicated classifier whatever model.classifier_sharding says|common/train/trainer.cc|s/if (config.classifier_sharding == ClassifierSharding::kSharded) {/if (false) {/|distributed_test"
  "model.classifier_sharding sharded parses as replicated|common/config/job_spec_conversion.cc|s/{\"sharded\", ClassifierSharding::kSharded}/{\"sharded\", ClassifierSharding::kReplicated}/|config_test"
  "a sharded checkpoint holds only rank 0's rows of the optimizer state|common/train/trainer.cc|s/if (IsClassifierRowState(name)) tensor = classifier_->EveryClassRows(tensor);/(void)name;/|distributed_test"
  "a sharded resume keeps every class's optimizer rows on every rank|common/train/trainer.cc|s/        tensor = classifier_->OwnRows(tensor);/        (void)tensor;/|distributed_test"
  "a rank that cannot load its part of a checkpoint leaves the others training|common/train/trainer.cc|s/if (!AllRanksSucceeded(position.status())) {/if (!position.ok()) {/|distributed_test"
  "the training top-1 classifies every image whatever its cap|common/train/trainer.cc|s/cap > 0 \&\& dataset_.size() > cap ?/false ?/|trainer_test"
  "evaluation.train_top1_max_images is not read|common/config/job_spec_conversion.cc|s/e.has_train_top1_max_images(),/false,/|config_test"
  "the synthetic set draws few patterns for many identities|common/data/synthetic_set.cc|s/Draws draws(StreamSeed(o.seed, k, -2));/Draws draws(StreamSeed(o.seed, k % 2, -2));/|recordio_test"
  "the synthetic set gives regular identities UR counts|common/data/synthetic_set.cc|s/return k < o.regular ? draws.Between/return k < 0 ? draws.Between/|recordio_test"
  "the sharded margin lands on a column of every rank|common/classifier/distributed_ops.cc|s/return torch::where(here, labels - range.start, torch::full_like(labels, -1));/return (labels - range.start).clamp(0, range.count - 1);/|distributed_test classifier_test"
  "a margin head puts a margin on column 0 of rows whose target is elsewhere|common/classifier/margin_head.cc|s/  margined = torch::where(y >= 0, margined, target);/  (void)0;/|distributed_test"
  "m-L2 summed by default|common/ftl/losses.cc|s/reduction == Reduction::kMean ? squared.mean()/reduction == Reduction::kSum ? squared.mean()/|ftl_math_test stage1_reference_test"
  "logit adjustment with the wrong sign|common/ftl/losses.cc|s/logits + tau \* log_prior/logits - tau * log_prior/|ftl_math_test"
  "a checkpoint stores its own position|common/train/job_runner.cc|s/SaveCheckpoint(order->checkpoint_path, position + 1)/SaveCheckpoint(order->checkpoint_path, position)/|job_runner_test"
  "a failed OnPhaseDone is ignored|common/train/job_runner.cc|s/leader_error = driver->OnPhaseDone(position, report);/(void)driver->OnPhaseDone(position, report);/|job_runner_test"
  "the driver's error code is lost|common/train/job_runner.cc|s/static_cast<absl::StatusCode>(std::stoi(bytes.substr(1, tab - 1)))/absl::StatusCode::kUnknown/|job_runner_test"
  "verification accuracy on f reports g's|common/eval/evaluator.cc|s/m\[n::kVerifAccF\] = verification->on_f.accuracy;/m[n::kVerifAccF] = verification->on_g.accuracy;/|evaluator_test"
  "the newest checkpoint is taken even when damaged|common/checkpoint/checkpoint_names.cc|s/if (last_error.ok()) return \*it;/return *it;/|checkpoint_test"
  "an atomic write never renames into place|common/util/file.cc|s/::rename(temp.c_str(), path.c_str()) != 0/false/|file_util_test"
  "the collective watchdog never fires|common/comm/watchdog_communicator.cc|s/if (waited >= timeout_seconds_) {/if (false) {/|watchdog_test"
  "NaN passes the range checks|common/config/job_spec_conversion.cc|s/if (!std::isfinite(value)) {/if (false) {/|config_test"
  "any credential attaches a worker|services/coordinator/job_manager.cc|s/} else if (options_.check_worker_credentials \&\&/} else if (false \&\&/|coordinator_test"
  "a worker's checkpoint path is trusted|services/coordinator/job_manager.cc|s/checkpoint != CheckpointFileName(job.spec().runtime().output_dir(), position)) {/false) {/|coordinator_test"
  "list returns whole specs|services/coordinator/job_manager.cc|s/job->clear_spec();/(void)0;/|coordinator_test"
  "a repointed link passes the launch check|services/coordinator/spec_validation.cc|s/} else if (\*resolved != fs::path(value)) {/} else if (false) {/|coordinator_test"
  "a .bin set is validated without the mirror image|common/eval/evaluator.cc|s/auto \[g_flip, f_flip\] = Features(model, x.flip({3}));/auto [g_flip, f_flip] = Features(model, x);/|evaluator_test"
  ".bin folds are not sklearn's KFold(10)|common/eval/metrics.cc|s/const int64_t base = pairs \/ 10, extra = pairs % 10;/const int64_t base = pairs \/ 10, extra = 0;/|eval_test"
  "the exported module skips the input centring|common/export/embedding_module.cc|s/  w.Line(\"x = x \* 2.0 - 1.0\");//|export_test"
  "the pickle decoder accepts any GLOBAL|common/data/verification_bin.cc|s/b_.compare(at_, end - at_, \"_codecs.nencode\") != 0/false/|verification_bin_test"
  "the automatic budget ignores the epochs|common/protocol/budget.cc|s/(kAutoBudgetEpochs \* training_images + global_batch - 1) \/ global_batch/kAutoBudgetMinPretrain/|protocol_test"
  "the experiment's time left counts runs, not iterations|common/protocol/progress.cc|s/planned_iterations_ - finished_iterations_/planned_runs_ - finished_runs_/|protocol_test"
  "the automatic budget has no cap|common/protocol/budget.cc|s/kAutoBudgetMinPretrain, kAutoBudgetMaxPretrain)/kAutoBudgetMinPretrain, epochs_iterations)/|protocol_test"
  "two empty secrets match|services/security/credentials.cc|s/a.empty()) return false;  \/\/ no secret/false) return false;  \/\/ no secret/|credentials_test"
  "a truncated JPEG is accepted|common/data/image_decode.cc|s/if (IsTruncatedJpeg(bytes)) {/if (false) {/|data_test"
  "the pixel budget is not enforced|common/data/image_decode.cc|s/if (pixels > kMaxImagePixels) {/if (false) {/|data_test"
  "the watchdog ignores unfinished device work|common/comm/watchdog_communicator.cc|s/if (unfinished \&\& unfinished->seconds >= timeout_seconds_ \&\&/if (false \&\&/|watchdog_test"
  "ArcFace's fallback branch taken the wrong way|common/classifier/margin_head.cc|s/torch::where(target > std::cos(M_PI - m), shifted,/torch::where(target < std::cos(M_PI - m), shifted,/|margin_head_test"
  "easy margin ignored|common/classifier/margin_head.cc|s/if (head.easy_margin) {/if (false) {/|margin_head_test"
  "the classifier's training loss leaves the margin out|common/classifier/replicated_classifier.cc|s/logits = Logits(f, labels).to(torch::kFloat32);/logits = Logits(f).to(torch::kFloat32);/|stage1_reference_test margin_head_test"
  "the schedule is never applied|common/train/trainer.cc|s/    optimizer.ScheduleStep(step);//|trainer_test"
  "the poly schedule has no power|common/optim/optimizer.cc|s/lr \* std::pow(1.0 - p, config.poly_power)/lr * (1.0 - p)/|optimizer_test"
  "gradient clipping never applied|common/train/trainer.cc|s/if (phase.config.clip_grad_norm > 0) {$/if (false) {/|trainer_test"
  "flips follow the call, not the step|common/train/trainer.cc|s/const torch::Tensor x = Augment(raw, stream, step);/const torch::Tensor x = Augment(raw, stream, it);/|trainer_test"
  "flips drawn per rank, not per global position|common/train/trainer.cc|s/LocalSlice(FlipMask(config_.training.seed, stream, step, global_batch)).to(x.device());/FlipMask(config_.training.seed + comm_.rank(), stream, step, x.size(0)).to(x.device());/|distributed_test"
  "crops drawn for the first rank's positions on every rank|common/train/trainer.cc|s/out = ShiftImages(out, LocalSlice(CropShifts(/out = ShiftImages(out, (CropShifts(/|distributed_test"
  "crops shift the wrong way|common/data/augment.cc|s/const torch::Tensor offsets = cpu_shifts.to(images.device()) + pad;/const torch::Tensor offsets = pad - cpu_shifts.to(images.device());/|trainer_test"
  "a heartbeat whose count stands still counts as progress|services/coordinator/job_manager.cc|s/if (message.heartbeat().work_done() != live.work_done) live.last_moved = live.last_heard;/live.last_moved = live.last_heard;/|coordinator_test"
  "a moving work count is not progress|services/coordinator/job_manager.cc|s/if (message.heartbeat().work_done() != live.work_done) live.last_moved = live.last_heard;/(void)0;/|coordinator_test"
  "stage 1 encodes with batch norm in training mode|common/train/trainer.cc|s/^    model_->enc->eval();$//|backbone_test"
  "batch-norm statistics not broadcast at checkpoints|common/train/trainer.cc|s/^  SyncBuffers();  \/\/ every rank resumes/  \/\/ every rank resumes/|distributed_test"
  "the embedding batch norm's weight is trainable|common/train/trainer.cc|s/p.set_requires_grad(value \&\& !IsOneOf(p, frozen));/p.set_requires_grad(value);/|backbone_test"
  "checkpoints do not name their network|common/train/trainer.cc|s/checkpoint.identity = {NetworkName(config_.preset, config_.model),/checkpoint.identity = {std::string(\"small:paper\"),/|backbone_test"
  "exported convolutions lose their groups|common/export/embedding_module.cc|s/\"], \", o.groups(), \")\"/\"], 1)\"/|export_test"
  "the exporter drops the MobileFaceNet's residual sums|common/export/embedding_module.cc|s/if (block->residual()) Line(absl::StrCat(var, \" = \", var, \" + \", shortcut));/(void)shortcut;/|export_test"
  "init_from loads a TorchScript module|common/train/trainer.cc|s/  if (kind == ModelFileKind::kTorchScript) {/  if (kind == ModelFileKind::kTorchScript) { EmbeddingModuleInfo info; (void)LoadEmbeddingModule(path, \&info);/|model_files_test"
  "format 1 checkpoints are opened|common/checkpoint/checkpoint_file.cc|s/      std::memcmp(file.data(), kArchiveMagic, sizeof(kArchiveMagic)) == 0) {/      std::memcmp(file.data(), kArchiveMagic, sizeof(kArchiveMagic)) == 0) { try { std::istringstream in(file.substr(kHeaderBytes)); torch::serialize::InputArchive a; a.load_from(in); } catch (...) {}/|model_files_test"
  "safetensors tensors may overlap|common/checkpoint/safetensors.cc|s/    if (e.begin != next) {/    if (e.begin > next) {/|safetensors_test"
  "safetensors offsets need not fit the shape|common/checkpoint/safetensors.cc|s/    if (entry.end - entry.begin != size) {/    if (entry.end - entry.begin < size) {/|safetensors_test"
  "safetensors bools unchecked|common/checkpoint/safetensors.cc|s/e.dtype->type == torch::kBool \&\&/false \&\&/|safetensors_test"
  "optimizer state not restored on resume|common/optim/optimizer_state.cc|s/  for (auto\& \[p, s\] : loaded) state\[StateKey(state, p)\] = std::move(s);/  (void)loaded;/|trainer_test"
  "Adam's step count not restored|common/optim/optimizer_state.cc|s/state->step(step->second.item<int64_t>());/state->step(0);/|trainer_test"
  "a module's weights load without their buffers|common/model/module_tensors.cc|s/  for (const auto\& b : module.named_buffers()) named.emplace_back(b.key(), b.value());//|backbone_test"
  "OpenBLAS keeps its own thread count|common/blas/blas.cc|s/  set(threads);/  (void)threads;/|blas_test"
  "OpenBLAS's Prescott fallback kept on an AVX-512 CPU|common/blas/blas.cc|s/    return \"SkylakeX\";/    return \"Haswell\";/|blas_test"
  "a row holding another job's record is listed|services/coordinator/sqlite_job_store.cc|s/      } else if (job->id() != row_id) {/      } else if (false) {/|coordinator_test"
  "a crashed store opens without its log|services/coordinator/sqlite_job_store.cc|s/    if (left_open \&\& !wal_existed) {/    if (false) {/|coordinator_test"
  "the collective watchdog times collectives before Arm|common/comm/watchdog_communicator.cc|s/bool armed_ ABSL_GUARDED_BY(mutex_) = false;/bool armed_ ABSL_GUARDED_BY(mutex_) = true;/|watchdog_test"
  "resume ignores the recipe|common/train/trainer.cc|s/  if (use == CheckpointUse::kSameRun .. use == CheckpointUse::kChangedRun) {/  if (false) {/|trainer_test"
  "the recipe leaves out the seed|common/config/recipe.cc|s/  add(\"training.seed\", absl::StrCat(t.seed));//|config_test trainer_test"
  "a recipe number keeps 6 digits|common/config/recipe.cc|s/for (int digits = 6; digits <= 17; ++digits)/for (int digits = 6; digits <= 6; ++digits)/|config_test"
  "the default output folder ignores the job name|common/config/job_spec_conversion.cc|s/  config.runtime.output_dir = DefaultOutputDir(config.name);/  config.runtime.output_dir = DefaultOutputDir(\"\");/|config_test"
  "the JPEG pixel limit reads no JPEG header|common/data/image_decode.cc|s/    return JpegHeaderPixels(b);/    return 0;/|data_test"
  "the folder walk throws on a symlink loop|common/data/image_folder.cc|s/if (IsImageFile(entry.path()) \&\& entry.is_regular_file(e))/if (IsImageFile(entry.path()) \&\& entry.is_regular_file())/|data_test"
  "a worker report keeps non-finite values|services/coordinator/worker_reports.cc|s/if (PlainName(name) \&\& std::isfinite(value))/if (PlainName(name))/|coordinator_test"
  "a worker report keeps every name|services/coordinator/worker_reports.cc|s/    if (values.size() == kMaxReportedValues) break;//|coordinator_test"
  "a reused request_id with another spec returns the first job|services/coordinator/job_manager.cc|s/existing.request_spec_crc() != spec_crc)/false)/|coordinator_test"
  "Attach tells which jobs exist before the credential|services/coordinator/job_manager.cc|s/  if (options_.check_worker_credentials \&\& !external \&\& !launched) {/  if (options_.check_worker_credentials \&\& !external \&\& !launched \&\& job_it != jobs_.end() \&\& job_it->second.state() == v1::RUNNING) {/|coordinator_test"
  "torn checkpoint writes are never removed|common/checkpoint/checkpoint_names.cc|s/    if (fs::remove(entry.path(), ec))$/    if (false)/|checkpoint_test"
  "a waiting rank polls at full speed|common/comm/mpi_communicator.cc|s/    if (spin < kSpins) continue;/    continue;/|distributed_test"
  "job folders without a record are ignored at start|services/coordinator/job_manager.cc|s/  if (orphans.empty()) return absl::OkStatus();/  return absl::OkStatus();/|coordinator_test"
  "the chunked all-gather puts every chunk at offset 0|common/comm/mpi_communicator.cc|s/      blocks.narrow(1, offset, count).copy_(gathered);/      blocks.narrow(1, 0, count).copy_(gathered);/|distributed_test"
  "reduce-scatter returns the first block to every rank|common/comm/mpi_communicator.cc|s/    const torch::Tensor blocks = in.view({size_, n});  \/\/ row r: the elements rank r receives/    const torch::Tensor blocks = in.view({size_, n}).narrow(0, 0, 1).expand({size_, n});/|distributed_test"
  "the max all-reduce sums|common/comm/mpi_communicator.cc|s/AllReduce(tensors, MPI_MAX)/AllReduce(tensors, MPI_SUM)/|distributed_test"
  "ReadLog returns the whole log whatever the cap|services/coordinator/job_manager.cc|s/std::string data(static_cast<size_t>(std::min(want, size - offset)), /std::string data(static_cast<size_t>(size - offset), /|coordinator_test"
  "the usable CPUs ignore the cgroup quota|common/util/cpus.cc|s/  if (quota) cpus.count = /  if (false) cpus.count = /|cpus_test"
  "a cgroup v2 quota on an ancestor is missed|common/util/cpus.cc|s/    dir = dir.parent_path();/    break;/|cpus_test"
  "--resume_despite_changes refuses anyway|common/train/trainer.cc|s/      if (!differences.empty() \&\& use == CheckpointUse::kChangedRun) {/      if (false) {/|trainer_test"
  "threads per rank divide a bound rank's own mask again|common/util/cpus.cc|s/  return std::max(1, std::min(cpus.affinity, share));/  return std::max(1, std::min(cpus.affinity \/ std::max(1, ranks_on_node), share));/|cpus_test"
)

survived=0
current=""
declare -A mutated_targets=()
# Put the source back if the script is stopped half-way.
trap '[[ -n $current && -f $current.orig ]] && mv "$current.orig" "$current" && touch "$current"' EXIT
for m in "${mutations[@]}"; do
  IFS='|' read -r name file expr tests <<< "$m"
  [[ -n ${ONLY:-} && ! $name =~ $ONLY ]] && continue
  current=$file
  cp "$file" "$file.orig"
  sed -i "$expr" "$file"
  if cmp -s "$file" "$file.orig"; then
    mv "$file.orig" "$file"
    echo "ERROR: mutation '$name' did not apply to $file"; exit 2
  fi
  caught=""
  for t in $tests; do mutated_targets[$t]=1; done
  if cmake --build "$build" --target $tests > /tmp/mutation_build.log 2>&1; then
    for t in $tests; do
      run=("$build/tests/$t" --gtest_color=no)
      [[ $t == distributed_test ]] && run=(mpirun --allow-run-as-root --oversubscribe -np 2 "${run[@]}")
      if ! "${run[@]}" > "/tmp/mutation_$t.log" 2>&1; then
        caught+="$t: $({ grep -oE '^\[  FAILED  \] [A-Za-z][A-Za-z0-9_/.]+' "/tmp/mutation_$t.log" || echo '[  FAILED  ] (the binary failed)'; } | sort -u | sed 's/.*\] //' | tr '\n' ' ')"
      fi
    done
  else
    mv "$file.orig" "$file"
    touch "$file"
    echo "ERROR: mutation '$name' does not compile (a mutation must build to count); see /tmp/mutation_build.log"
    exit 2
  fi
  mv "$file.orig" "$file"
  touch "$file"  # newer than the mutated objects, so that the build sees the restored source
  if [[ -n $caught ]]; then
    echo "CAUGHT    $name: $caught"
  else
    echo "SURVIVED  $name"
    survived=$((survived + 1))
  fi
done
# Every target a mutation was built into, rebuilt from the restored sources: no test binary is left
# built from a mutant.
((${#mutated_targets[@]} == 0)) || cmake --build "$build" --target "${!mutated_targets[@]}" > /dev/null
exit $((survived > 0))
