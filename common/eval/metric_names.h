// The names under which evaluation figures travel: phase reports, summary.json, the coordinator's
// job history and `ftl experiment`'s tables all use these, so each is spelled once, here.
#ifndef FTL_COMMON_EVAL_METRIC_NAMES_H_
#define FTL_COMMON_EVAL_METRIC_NAMES_H_

#include <string>

namespace ftl::metric_names {

// Verification pairs (10-fold, Table 3), on the identity feature f and the rich feature g.
inline constexpr char kVerifAccF[] = "verif_acc_f";
inline constexpr char kVerifAccStdF[] = "verif_acc_std_f";
inline constexpr char kVerifTarFar1e2F[] = "verif_tar_far1e2_f";
inline constexpr char kVerifTarFar1e3F[] = "verif_tar_far1e3_f";
inline constexpr char kVerifAccG[] = "verif_acc_g";
inline constexpr char kVerifPairs[] = "verif_pairs";  // pairs whose two images could be read

// Hold-out nearest-centre rank-1 (Table 1) per class group and feature space.
inline constexpr char kHoldoutRank1RegularG[] = "holdout_rank1_regular_g";
inline constexpr char kHoldoutRank1UrG[] = "holdout_rank1_ur_g";
inline constexpr char kHoldoutRank1RegularF[] = "holdout_rank1_regular_f";
inline constexpr char kHoldoutRank1UrF[] = "holdout_rank1_ur_f";
// The classifier on UR hold-out probes: coverage at precision 0.99 (Table 2) and top-1.
inline constexpr char kHoldoutCoverageP99Ur[] = "holdout_coverage_p99_ur";
inline constexpr char kHoldoutTop1UrClassifier[] = "holdout_top1_ur_classifier";

// The training set, by the classifier (the trainer's evaluate phase).
inline constexpr char kTrainTop1Regular[] = "train_top1_regular";
inline constexpr char kTrainTop1Ur[] = "train_top1_ur";
inline constexpr char kUrRegularNormRatio[] = "ur_regular_norm_ratio";  // Fig. 1b's bias

// Other phases' figures.
inline constexpr char kPcaEnergyKept[] = "pca_energy_kept";                          // update_stats
inline constexpr char kUrRegularNormRatioBefore[] = "ur_regular_norm_ratio_before";  // stage1
inline constexpr char kUrRegularNormRatioAfter[] = "ur_regular_norm_ratio_after";    // stage1
inline constexpr char kAllreduceSeconds[] = "allreduce_seconds";  // training phases
inline constexpr char kAllreduceBytes[] = "allreduce_bytes";
inline constexpr char kStreamedUnreadableImages[] =
    "streamed_unreadable_images";  // all ranks, so far

// InsightFace .bin sets (evaluation.bin_sets), by file stem: bin_lfw_acc_f, bin_lfw_acc_std_f,
// bin_lfw_tar_far1e3_f, bin_lfw_acc_g.
inline constexpr char kBinSetPrefix[] = "bin_";
inline std::string BinSetMetric(const std::string& stem, const char* what) {
  return std::string(kBinSetPrefix) + stem + "_" + what;
}

}  // namespace ftl::metric_names

#endif  // FTL_COMMON_EVAL_METRIC_NAMES_H_
