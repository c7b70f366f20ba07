// The paper's Table-1 protocol as data: splitting a source into regular / faked-UR training
// images, validation images and hold-out probes (manifests, no image copies), and generating
// balanced verification pairs in disjoint folds for sets without an LFW pairs file.
//
// Everything here is a pure function of the source listing and a seed, so a split is reproduced
// exactly from its command line.
#ifndef FTL_COMMON_PROTOCOL_PROTOCOL_H_
#define FTL_COMMON_PROTOCOL_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"
#include "common/eval/pairs.h"

namespace ftl {

// Which identities stay regular (--roles).
enum class SplitRoles {
  // The first K by image count, ties by name: the same people for every seed (what a naturally
  // long-tailed set means by under-represented).
  kByCount,
  // K drawn from the seed among the identities with enough images to play either role (at least
  // ur_images, or min_train when ur_images is 0, plus holdout, plus validation when it is taken
  // beyond the budget); the rest are UR. On a set where everyone has many images (Yale B), which
  // people are under-represented then changes with the split. Reproducible for a seed with the
  // same standard library (std::shuffle, as the per-identity image shuffles).
  kDrawn,
};
// "by_count" / "drawn"; InvalidArgument naming the choices otherwise.
absl::StatusOr<SplitRoles> ParseSplitRoles(const std::string& name);

struct SplitOptions {
  int regular = 0;     // K identities stay regular (`roles` says which)
  int ur_images = 0;   // the others keep at most this many training images (0 = all they have)
  int holdout = 0;     // probes held out per identity ...
  int min_train = 1;   // ... when at least this many training images remain
  int validation = 0;  // images per identity for tuning (from the training images, except below)
  uint64_t seed = 1;
  SplitRoles roles = SplitRoles::kByCount;
  // A UR identity's validation images taken from its images beyond the ur_images budget, where it
  // has that many, instead of carved from the budget: tuning then trains it on as many images as
  // the final runs do (the same k-shot regime). Where it has too few, they are carved from the
  // budget as before (identities.csv says which).
  bool ur_validation_beyond_budget = false;
  // When non-empty, only these identities take part (e.g. LFW's peopleDevTrain.txt).
  std::unordered_set<std::string> identities;
};

struct IdentitySplit {
  std::string identity;
  bool regular = false;
  int64_t total = 0, train = 0, holdout = 0, validation = 0;
  bool validation_beyond_budget = false;  // validation images not among the training images
};

struct DataSplit {
  std::vector<std::string> train;       // training images (validation images included, except those
                                        // taken beyond a UR identity's budget)
  std::vector<std::string> fit;         // train minus validation: what tuning runs train on
  std::vector<std::string> validation;  // tuning probes (from train, or beyond a UR budget)
  std::vector<std::string> holdout;     // final probes, never trained on or tuned on
  std::vector<std::string> regular_identities;
  std::vector<IdentitySplit> identities;  // by image count, descending
};

absl::StatusOr<DataSplit> MakeSplit(const SourceListing& listing, const SplitOptions& options);

// Writes train.txt, fit.txt, validation.txt, holdout.txt (manifests), regular.txt (identity
// names) and identities.csv into `dir` (created if missing).
absl::Status WriteSplit(const DataSplit& split, const std::string& dir);

// Reads an LFW people file ("N" then "name<TAB>count" lines) or a plain list of names.
absl::StatusOr<std::unordered_set<std::string>> ReadIdentityList(const std::string& path);

struct PairOptions {
  int folds = 10;
  int per_fold = 300;  // same pairs per fold (and as many different pairs)
  uint64_t seed = 1;
};

struct GeneratedPairs {
  std::vector<VerificationPair> pairs;  // fold by fold, same pairs first (WritePairsFile order)
  bool identity_disjoint = false;       // folds share no identity (else: no image)
};

// Balanced same/different pairs over the samples `eligible` (all when empty) of `listing`, in
// `folds` disjoint folds: by identity when there are at least two identities per fold, otherwise
// by image. A pair's index k is the k-th (1-based) image of that identity in listing order.
absl::StatusOr<GeneratedPairs> GeneratePairs(const SourceListing& listing,
                                             const std::vector<std::string>& eligible,
                                             const PairOptions& options);

// identity -> its sample names in listing order, to resolve a pair's (name, index).
std::unordered_map<std::string, std::vector<std::string>> SamplesByIdentity(
    const SourceListing& listing);

}  // namespace ftl

#endif  // FTL_COMMON_PROTOCOL_PROTOCOL_H_
