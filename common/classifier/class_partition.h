// Which classifier rows a rank owns when the N_c x D classifier is split by class across R ranks
// (Partial FC, An et al. CVPR 2022): contiguous ranges in rank order, a pure function of (N_c, R),
// so that every rank knows every rank's range without a collective.
#ifndef FTL_COMMON_CLASSIFIER_CLASS_PARTITION_H_
#define FTL_COMMON_CLASSIFIER_CLASS_PARTITION_H_

#include <cstdint>

namespace ftl {

// Classes [start, start + count).
struct ClassRange {
  int64_t start = 0;
  int64_t count = 0;
  int64_t end() const { return start + count; }
};

// Rank `rank` of `ranks`: N_c / R classes, one more for the first N_c % R ranks (arcface_torch's
// partial_fc_v2 split). Needs 0 <= rank < ranks and num_classes >= ranks (every range non-empty);
// callers refuse a smaller class count before any work.
ClassRange ClassRangeOf(int64_t num_classes, int rank, int ranks);

}  // namespace ftl

#endif  // FTL_COMMON_CLASSIFIER_CLASS_PARTITION_H_
