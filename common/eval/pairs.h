// Verification pairs in LFW's pairs.txt format.
//   View 2 (pairs.txt):      "10<TAB>300", then per fold 300 same and 300 different pairs.
//   View 1 (pairsDev*.txt):  "500", then 500 same and 500 different pairs (one set).
// Same pair: "name<TAB>i<TAB>j"; different pair: "name1<TAB>i<TAB>name2<TAB>j". Image k of a person
// is "<root>/<name>/<name>_<k as 4 digits>.jpg" -- which is also the k-th image of <name> in file
// name order, the rule used for pairs of any other image folder (see `ftl pairs`).
#ifndef FTL_COMMON_EVAL_PAIRS_H_
#define FTL_COMMON_EVAL_PAIRS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ftl {

struct VerificationPair {
  std::string name1;
  int index1 = 0;
  std::string name2;
  int index2 = 0;
  bool same = false;
  int fold = 0;
};

// Reads a pairs file. A one-set file (View 1) gets 10 folds by pair order (i mod 10) so that
// thresholds are still chosen on held-out folds. A malformed line is an error naming the line.
absl::StatusOr<std::vector<VerificationPair>> ReadPairsFile(const std::string& path);

// Writes pairs in the View 2 layout: "FOLDS<TAB>N", then per fold N same then N different pairs.
// `pairs` must hold exactly that, grouped by fold with same pairs first. Atomic (temp + rename).
absl::Status WritePairsFile(const std::string& path, const std::vector<VerificationPair>& pairs,
                            int folds, int per_fold);

// "<root>/<name>/<name>_<NNNN>.jpg"
std::string LfwImagePath(const std::string& root, const std::string& name, int index);

}  // namespace ftl

#endif  // FTL_COMMON_EVAL_PAIRS_H_
