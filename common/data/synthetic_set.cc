#include "common/data/synthetic_set.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/data/recordio.h"
#include "common/util/status_macros.h"

namespace ftl {
namespace {

// SplitMix64's finaliser: independent streams from (seed, identity, image) without a table.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Draws from raw mt19937_64 bits (the standard's distributions differ between libraries).
class Draws {
 public:
  explicit Draws(uint64_t seed) : engine_(seed) {}
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  int Between(int low, int high) {                                               // [low, high]
    return low + static_cast<int>(Uniform() * (high - low + 1));
  }
  double Normal() {  // Box-Muller
    const double u = 1.0 - Uniform(), v = Uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * M_PI * v);
  }

 private:
  std::mt19937_64 engine_;
};

uint64_t StreamSeed(uint64_t seed, int64_t identity, int64_t image) {
  return Mix(Mix(Mix(seed) ^ static_cast<uint64_t>(identity)) ^ static_cast<uint64_t>(image + 1));
}

// Identity k's pattern: 4x4 intensities in [40, 215], cubic-resized to size x size (float).
cv::Mat Pattern(const SyntheticSetOptions& o, int64_t k) {
  Draws draws(StreamSeed(o.seed, k, -2));
  cv::Mat grid(4, 4, CV_32F);
  for (int i = 0; i < 16; ++i) grid.at<float>(i / 4, i % 4) = 40.0f + 175.0f * draws.Uniform();
  cv::Mat pattern;
  cv::resize(grid, pattern, cv::Size(o.size, o.size), 0, 0, cv::INTER_CUBIC);
  return pattern;
}

std::string Image(const SyntheticSetOptions& o, const cv::Mat& pattern, int64_t k, int64_t i) {
  Draws draws(StreamSeed(o.seed, k, i));
  const int reach = std::max(1, o.size / 8);
  const int dx = draws.Between(-reach, reach), dy = draws.Between(-reach, reach);
  const double contrast = 0.7 + 0.6 * draws.Uniform();
  const double brightness = -30.0 + 60.0 * draws.Uniform();
  cv::Mat shifted;
  const cv::Mat shift = (cv::Mat_<double>(2, 3) << 1, 0, dx, 0, 1, dy);
  cv::warpAffine(pattern, shifted, shift, pattern.size(), cv::INTER_NEAREST, cv::BORDER_REPLICATE);
  cv::Mat pixels(o.size, o.size, CV_8U);
  for (int y = 0; y < o.size; ++y) {
    for (int x = 0; x < o.size; ++x) {
      const double v =
          128.0 + contrast * (shifted.at<float>(y, x) - 128.0) + brightness + 8.0 * draws.Normal();
      pixels.at<uint8_t>(y, x) = static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  }
  std::vector<uint8_t> png;
  cv::imencode(".png", pixels, png);
  return std::string(png.begin(), png.end());
}

}  // namespace

absl::Status CheckSyntheticSetOptions(const SyntheticSetOptions& o) {
  auto refuse = [](const std::string& message) { return absl::InvalidArgumentError(message); };
  if (o.identities < 2 || o.identities > 10000000)
    return refuse(absl::StrCat("--identities: 2 to 10000000, got ", o.identities));
  if (o.regular < 0 || o.regular > o.identities)
    return refuse(
        absl::StrCat("--regular: 0 to --identities (", o.identities, "), got ", o.regular));
  if (o.min_regular_images < 1 || o.max_regular_images < o.min_regular_images ||
      o.max_regular_images > 100000)
    return refuse(absl::StrCat("--regular_images: MIN-MAX with 1 <= MIN <= MAX <= 100000, got ",
                               o.min_regular_images, "-", o.max_regular_images));
  if (o.min_ur_images < 1 || o.max_ur_images < o.min_ur_images || o.max_ur_images > 100000)
    return refuse(absl::StrCat("--ur_images: MIN-MAX with 1 <= MIN <= MAX <= 100000, got ",
                               o.min_ur_images, "-", o.max_ur_images));
  if (o.size < 8 || o.size > 512) return refuse(absl::StrCat("--size: 8 to 512, got ", o.size));
  return absl::OkStatus();
}

int SyntheticImageCount(const SyntheticSetOptions& o, int64_t k) {
  Draws draws(StreamSeed(o.seed, k, -1));
  return k < o.regular ? draws.Between(o.min_regular_images, o.max_regular_images)
                       : draws.Between(o.min_ur_images, o.max_ur_images);
}

absl::StatusOr<SyntheticSetSummary> WriteSyntheticRecordIo(
    const SyntheticSetOptions& o, const std::string& rec_path, const std::string& idx_path,
    const std::function<void(int64_t, int64_t)>& progress) {
  FTL_RETURN_IF_ERROR(CheckSyntheticSetOptions(o));
  std::vector<int64_t> first_key(static_cast<size_t>(o.identities) + 1);
  int64_t images = 0;
  for (int64_t k = 0; k < o.identities; ++k) {
    first_key[k] = images + 1;
    images += SyntheticImageCount(o, k);
  }
  first_key[o.identities] = images + 1;
  // RecordIO's labels are float32: record keys beyond 2^24 would not be exact.
  if (images + o.identities + 1 >= (int64_t{1} << 24)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--identities: ", o.identities, " identities with ", images,
                     " images need record keys beyond 2^24, which RecordIO's float labels do "
                     "not hold exactly; ask for fewer identities or images"));
  }
  FTL_ASSIGN_OR_RETURN(std::unique_ptr<RecordIoWriter> writer,
                       RecordIoWriter::Create(rec_path, idx_path));
  // The InsightFace header: label = [first identity record, end of identity records].
  FTL_RETURN_IF_ERROR(writer->Write(
      0,
      PackImageRecord(
          {static_cast<float>(images + 1), static_cast<float>(images + 1 + o.identities)}, 0, "")));
  SyntheticSetSummary summary;
  for (int64_t k = 0; k < o.identities; ++k) {
    const cv::Mat pattern = Pattern(o, k);
    for (int64_t key = first_key[k]; key < first_key[k + 1]; ++key) {
      const std::string image = Image(o, pattern, k, key - first_key[k]);
      summary.rec_bytes += static_cast<int64_t>(image.size());
      FTL_RETURN_IF_ERROR(writer->Write(
          key, PackImageRecord({static_cast<float>(k)}, static_cast<uint64_t>(key), image)));
    }
    if (progress && (k + 1) % 10000 == 0) progress(k + 1, o.identities);
  }
  for (int64_t k = 0; k < o.identities; ++k) {
    FTL_RETURN_IF_ERROR(writer->Write(
        images + 1 + k,
        PackImageRecord({static_cast<float>(first_key[k]), static_cast<float>(first_key[k + 1])},
                        static_cast<uint64_t>(images + 1 + k), "")));
  }
  FTL_RETURN_IF_ERROR(writer->Finish());
  summary.images = images;
  summary.identities = o.identities;
  summary.regular = o.regular;
  return summary;
}

}  // namespace ftl
