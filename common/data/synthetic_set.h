// A generated long-tailed identity set, written as InsightFace RecordIO, for runs at the scale of
// MS1M or Glint360K where no such set is at hand (this machine has nothing larger than LFW).
//
// Identity k is a smooth random grey pattern (a 4x4 grid of intensities, resized with cubic
// interpolation); each of its images is that pattern shifted by up to size/8 pixels, scaled in
// contrast and brightness and given pixel noise. The classes are learnable, and the ways their
// images vary are the same for every class: the shared intra-class variation FTL transfers.
// Everything is drawn from generators seeded by (seed, identity, image), so a set is the same
// bytes whatever else changes. Counts: the first `regular` identities get a uniform number of
// images in [min_regular_images, max_regular_images], the others in [min_ur_images,
// max_ur_images] — a long tail where most identities are under-represented.
#ifndef FTL_COMMON_DATA_SYNTHETIC_SET_H_
#define FTL_COMMON_DATA_SYNTHETIC_SET_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace ftl {

struct SyntheticSetOptions {
  int64_t identities = 200000;
  int64_t regular = 2000;
  int min_regular_images = 21;
  int max_regular_images = 40;
  int min_ur_images = 1;
  int max_ur_images = 5;
  int size = 32;  // square, grey, PNG
  uint64_t seed = 1;
};

// InvalidArgument naming the flag (as `ftl synth` spells it) for counts out of range.
absl::Status CheckSyntheticSetOptions(const SyntheticSetOptions& options);

// The number of images identity `k` gets.
int SyntheticImageCount(const SyntheticSetOptions& options, int64_t k);

struct SyntheticSetSummary {
  int64_t images = 0;
  int64_t identities = 0;
  int64_t regular = 0;
  int64_t rec_bytes = 0;
};

// Writes the set to rec_path/idx_path (InsightFace layout: header record, images, identity
// records; replaced atomically). `progress` (identities done, total) is called now and then.
absl::StatusOr<SyntheticSetSummary> WriteSyntheticRecordIo(
    const SyntheticSetOptions& options, const std::string& rec_path, const std::string& idx_path,
    const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_SYNTHETIC_SET_H_
