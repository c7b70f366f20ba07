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

struct SplitOptions {
  int regular = 0;     // the first K identities by image count (ties by name) stay regular
  int ur_images = 0;   // the others keep at most this many training images (0 = all they have)
  int holdout = 0;     // probes held out per identity ...
  int min_train = 1;   // ... when at least this many training images remain
  int validation = 0;  // images per identity carved from the training images for tuning
  uint64_t seed = 1;
  // When non-empty, only these identities take part (e.g. LFW's peopleDevTrain.txt).
  std::unordered_set<std::string> identities;
};

struct IdentitySplit {
  std::string identity;
  bool regular = false;
  int64_t total = 0, train = 0, holdout = 0, validation = 0;
};

struct DataSplit {
  std::vector<std::string> train;       // training images (validation images included)
  std::vector<std::string> fit;         // train minus validation: what tuning runs train on
  std::vector<std::string> validation;  // tuning probes, carved from train
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
