// ftl pairs: balanced same/different verification pairs in disjoint folds, LFW pairs.txt format.
#include <iostream>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/data/dataset.h"
#include "common/eval/pairs.h"
#include "common/protocol/protocol.h"
#include "services/cli/commands.h"
#include "services/cli/tool_support.h"

namespace ftl {

int RunPairs(const PairsCommandOptions& o) {
  absl::StatusOr<SourceListing> listing = ListSource(o.source);
  if (!listing.ok()) return Fail(std::string(listing.status().message()));
  std::vector<std::string> eligible;
  if (!o.manifest.empty()) {
    absl::StatusOr<std::vector<std::string>> m = ReadManifest(o.manifest);
    if (!m.ok()) return Fail(std::string(m.status().message()));
    eligible = *std::move(m);
  }
  PairOptions options = o.pairs;
  if (options.per_fold == 0) {
    options.per_fold = DefaultPerFold(
        eligible.empty() ? listing->sample_names.size() : eligible.size(), options.folds);
  }
  absl::StatusOr<GeneratedPairs> pairs = GeneratePairs(*listing, eligible, options);
  if (!pairs.ok()) return Fail(std::string(pairs.status().message()), 2);
  if (absl::Status s = WritePairsFile(o.out, pairs->pairs, options.folds, options.per_fold);
      !s.ok()) {
    return Fail(std::string(s.message()));
  }
  std::cout << absl::StrFormat(
      "pairs: %d folds x (%d same + %d different), folds disjoint by %s, in %s\n", options.folds,
      options.per_fold, options.per_fold, pairs->identity_disjoint ? "identity" : "image", o.out);
  return 0;
}

}  // namespace ftl
