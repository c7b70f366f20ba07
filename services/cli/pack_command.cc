// ftl pack: an image folder as InsightFace RecordIO (NAME.rec + NAME.idx); ftl synth: a generated
// long-tailed set in the same layout.
#include <iostream>

#include "absl/strings/str_format.h"
#include "common/data/recordio.h"
#include "common/data/synthetic_set.h"
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

int RunSynth(const SynthCommandOptions& o) {
  const std::string idx = RecordIoIndexPath(o.out);
  const SyntheticSetOptions& s = o.set;
  std::cout << "synth: " << s.identities << " identities (" << s.regular << " with "
            << s.min_regular_images << "-" << s.max_regular_images << " images, the others 1-"
            << s.max_ur_images << "), " << s.size << "x" << s.size << " grey, seed " << s.seed
            << std::endl;
  absl::StatusOr<SyntheticSetSummary> written =
      WriteSyntheticRecordIo(s, o.out, idx, [](int64_t done, int64_t total) {
        std::cout << "synth: " << done << "/" << total << " identities written" << std::endl;
      });
  if (!written.ok()) return Fail(std::string(written.status().message()));
  std::cout << absl::StrFormat(
      "synth: %d images of %d identities in %s and %s (InsightFace RecordIO layout, %.1f MB of "
      "PNG)\n",
      written->images, written->identities, o.out, idx, written->rec_bytes / 1e6);
  return 0;
}

}  // namespace ftl
