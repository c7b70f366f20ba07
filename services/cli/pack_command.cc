// ftl pack: an image folder as InsightFace RecordIO (NAME.rec + NAME.idx).
#include <iostream>

#include "common/data/recordio.h"
#include "services/cli/commands.h"
#include "services/cli/tool_support.h"

namespace ftl {

int RunPack(const PackCommandOptions& o) {
  const std::string idx = RecordIoIndexPath(o.out);
  absl::StatusOr<int64_t> written = PackImageFolder(o.data, o.out, idx);
  if (!written.ok()) return Fail(std::string(written.status().message()));
  std::cout << "pack: " << *written << " images in " << o.out << " and " << idx
            << " (InsightFace RecordIO layout)\n";
  return 0;
}

}  // namespace ftl
