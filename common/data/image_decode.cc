#include "common/data/image_decode.h"

#include <fstream>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/util/file.h"

namespace ftl {
namespace {

// OpenCV would print its own warning per bad file; we report them ourselves, once each.
const bool kQuietOpenCv = [] {
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  return true;
}();

// Whether `bytes` start like a format we read: JPEG, PNG, PGM/PPM/PBM, BMP, TIFF or WebP. Anything
// else never reaches OpenCV, whose other decoders (found by fuzzing: the DICOM one) can abort the
// process on a damaged file instead of failing.
bool IsSupportedImageFormat(const std::string& bytes) {
  auto starts = [&bytes](const char* magic, size_t n, size_t at = 0) {
    return bytes.size() >= at + n && bytes.compare(at, n, magic, n) == 0;
  };
  // OpenCV picks the DICOM decoder by "DICM" at offset 128, whatever the first bytes say (fuzzing
  // found "P2" + garbage + "DICM" aborting in it). No real image of ours has that by chance.
  if (starts("DICM", 4, 128)) return false;
  return starts("\xff\xd8\xff", 3) ||                                                     // JPEG
         starts("\x89PNG\r\n\x1a\n", 8) ||                                                // PNG
         (bytes.size() >= 2 && bytes[0] == 'P' && bytes[1] >= '1' && bytes[1] <= '6') ||  // PNM
         starts("BM", 2) ||                                                               // BMP
         starts("II*\0", 4) || starts("MM\0*", 4) ||                                      // TIFF
         (starts("RIFF", 4) && starts("WEBP", 4, 8));                                     // WebP
}

}  // namespace

torch::Tensor ImageToTensor(const cv::Mat& image, const ImageOptions& options) {
  (void)kQuietOpenCv;
  cv::Mat converted;
  if (options.channels == 1) {
    if (image.channels() == 1) {
      converted = image;
    } else {
      cv::cvtColor(image, converted,
                   image.channels() == 4 ? cv::COLOR_BGRA2GRAY : cv::COLOR_BGR2GRAY);
    }
  } else if (image.channels() == 1) {
    cv::cvtColor(image, converted, cv::COLOR_GRAY2RGB);
  } else {
    cv::cvtColor(image, converted, image.channels() == 4 ? cv::COLOR_BGRA2RGB : cv::COLOR_BGR2RGB);
  }
  const int side = std::min(converted.rows, converted.cols);
  const int crop = std::max(1, static_cast<int>(side * options.center_crop + 0.5));
  const cv::Rect box((converted.cols - crop) / 2, (converted.rows - crop) / 2, crop, crop);
  cv::Mat resized;
  cv::resize(converted(box), resized, cv::Size(options.size, options.size), 0, 0,
             crop > options.size ? cv::INTER_AREA : cv::INTER_LINEAR);
  cv::Mat packed = resized.isContinuous() ? resized : resized.clone();
  // HWC -> CHW in memory the tensor owns. clone(), not contiguous(): for one channel the permuted
  // view already counts as contiguous, and would keep pointing into the cv::Mat freed on return.
  return torch::from_blob(packed.data, {options.size, options.size, options.channels},
                          torch::kUInt8)
      .permute({2, 0, 1})
      .clone(at::MemoryFormat::Contiguous);
}

absl::StatusOr<torch::Tensor> DecodeImage(const std::string& bytes, const ImageOptions& options) {
  (void)kQuietOpenCv;
  if (bytes.empty()) return absl::InvalidArgumentError("empty image data");
  if (!IsSupportedImageFormat(bytes)) {
    return absl::InvalidArgumentError("not a JPEG, PNG, PGM/PPM, BMP, TIFF or WebP image");
  }
  cv::Mat image;
  try {
    const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    image = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("not a readable image: ", e.what()));
  }
  if (image.empty() || image.rows < 1 || image.cols < 1) {
    return absl::InvalidArgumentError("not a readable image");
  }
  if (image.depth() != CV_8U) {
    cv::Mat eight_bit;
    double max_value = 0;
    cv::minMaxLoc(image.reshape(1), nullptr, &max_value);
    image.convertTo(eight_bit, CV_8U, max_value > 255 ? 255.0 / max_value : 1.0);
    image = eight_bit;
  }
  return ImageToTensor(image, options);
}

absl::StatusOr<torch::Tensor> ReadImageFile(const std::string& path, const ImageOptions& options) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<torch::Tensor> image = DecodeImage(*bytes, options);
  if (!image.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", image.status().message()));
  return image;
}

}  // namespace ftl
