// ftl split: a Table-1 style split of a source into manifests (train, fit, validation, holdout,
// regular identities).
#include <iostream>

#include "common/data/dataset.h"
#include "common/protocol/protocol.h"
#include "services/cli/commands.h"
#include "services/cli/tool_support.h"

namespace ftl {

int RunSplit(const SplitCommandOptions& o) {
  absl::StatusOr<SourceListing> listing = ListSource(o.source);
  if (!listing.ok()) return Fail(std::string(listing.status().message()));
  absl::StatusOr<DataSplit> split = MakeSplit(*listing, o.split);
  if (!split.ok()) return Fail(std::string(split.status().message()), 2);
  if (absl::Status s = WriteSplit(*split, o.out); !s.ok()) return Fail(std::string(s.message()));
  PrintSplit(*split);
  std::cout << "split: manifests in " << o.out
            << " (train.txt, fit.txt, validation.txt, holdout.txt, regular.txt, identities.csv)\n";
  return 0;
}

}  // namespace ftl
