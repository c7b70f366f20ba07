#include "common/data/image_decode.h"

// clang-format off
#include <cstdio>  // before jpeglib.h, which uses FILE
#include <jpeglib.h>
// clang-format on

#include <cctype>
#include <csetjmp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
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

uint32_t BigEndian(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

uint32_t LittleEndian(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

// width x height, saturating: a hostile header must not overflow into a small number.
int64_t Pixels(uint64_t width, uint64_t height) {
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (width != 0 && height > kMax / width) return static_cast<int64_t>(kMax);
  return static_cast<int64_t>(width * height);
}

struct JpegErrors {
  jpeg_error_mgr base;
  jmp_buf jump;
};

// libjpeg's jpeg_read_header on `bytes`: width x height of its frame; 0 when libjpeg finds no
// readable header (decoding then fails on its own).
int64_t JpegHeaderPixels(const std::string& bytes) {
  jpeg_decompress_struct info;
  std::memset(&info, 0, sizeof(info));  // jpeg_destroy_decompress is safe on it from here on
  JpegErrors errors;
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = [](j_common_ptr c) {
    longjmp(reinterpret_cast<JpegErrors*>(c->err)->jump, 1);
  };
  errors.base.emit_message = [](j_common_ptr, int) {};  // "extraneous bytes" and other warnings
  errors.base.output_message = [](j_common_ptr) {};
  // Nothing with a destructor lives between here and the longjmp targets.
  if (setjmp(errors.jump) != 0) {
    jpeg_destroy_decompress(&info);
    return 0;
  }
  jpeg_create_decompress(&info);
  // (IJG libjpeg declares the buffer non-const; libjpeg only reads it.)
  jpeg_mem_src(&info, reinterpret_cast<unsigned char*>(const_cast<char*>(bytes.data())),
               static_cast<unsigned long>(bytes.size()));
  int64_t pixels = 0;
  if (jpeg_read_header(&info, TRUE) == JPEG_HEADER_OK)
    pixels = Pixels(info.image_width, info.image_height);
  jpeg_destroy_decompress(&info);
  return pixels;
}

}  // namespace

int64_t ImageHeaderPixels(const std::string& b) {
  const size_t n = b.size();
  if (n >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n", 8) == 0) {  // IHDR is the first chunk
    return Pixels(BigEndian(b, 16, 4), BigEndian(b, 20, 4));
  }
  if (n >= 4 && static_cast<uint8_t>(b[0]) == 0xff && static_cast<uint8_t>(b[1]) == 0xd8) {
    // JPEG: the frame size as libjpeg itself reads it (it skips junk between markers, which a walk
    // of the marker segments would stop at, and would then decode a frame of any size).
    return JpegHeaderPixels(b);
  }
  if (n >= 26 && b.compare(0, 2, "BM") == 0) {
    const int32_t height = static_cast<int32_t>(LittleEndian(b, 22, 4));  // negative: top-down
    return Pixels(LittleEndian(b, 18, 4), std::abs(int64_t{height}));
  }
  if (n >= 30 && b.compare(0, 4, "RIFF") == 0 && b.compare(8, 4, "WEBP") == 0) {
    if (b.compare(12, 4, "VP8X") == 0)
      return Pixels(LittleEndian(b, 24, 3) + 1, LittleEndian(b, 27, 3) + 1);
    if (b.compare(12, 4, "VP8L") == 0 && n >= 25) {
      const uint32_t bits = LittleEndian(b, 21, 4);
      return Pixels((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1);
    }
    if (b.compare(12, 4, "VP8 ") == 0)
      return Pixels(LittleEndian(b, 26, 2) & 0x3fff, LittleEndian(b, 28, 2) & 0x3fff);
    return 0;
  }
  if (n >= 2 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6') {  // PNM: "P5 <w> <h> ..." (comments)
    int64_t numbers[2] = {0, 0};
    size_t at = 2;
    for (int k = 0; k < 2; ++k) {
      while (at < n && (std::isspace(static_cast<uint8_t>(b[at])) || b[at] == '#')) {
        if (b[at] == '#') {
          while (at < n && b[at] != '\n') ++at;
        } else {
          ++at;
        }
      }
      while (at < n && std::isdigit(static_cast<uint8_t>(b[at])) && numbers[k] < (int64_t{1} << 40))
        numbers[k] = numbers[k] * 10 + (b[at++] - '0');
    }
    return Pixels(numbers[0], numbers[1]);
  }
  if (n >= 8 && (b.compare(0, 4, "II*\0", 4) == 0 || b.compare(0, 4, "MM\0*", 4) == 0)) {
    // TIFF: ImageWidth (256) and ImageLength (257) of the first IFD.
    const bool little = b[0] == 'I';
    auto read = [&](size_t at, int bytes) {
      return little ? LittleEndian(b, at, bytes) : BigEndian(b, at, bytes);
    };
    const size_t ifd = read(4, 4);
    if (ifd + 2 > n) return 0;
    int64_t width = 0, height = 0;
    const uint32_t entries = read(ifd, 2);
    for (uint32_t e = 0; e < entries && ifd + 2 + 12 * (e + 1) <= n; ++e) {
      const size_t at = ifd + 2 + 12 * e;
      const uint32_t tag = read(at, 2), type = read(at + 2, 2);
      const uint32_t value = type == 3 ? read(at + 8, 2) : read(at + 8, 4);
      if (tag == 256) width = value;
      if (tag == 257) height = value;
    }
    return Pixels(width, height);
  }
  return 0;
}

namespace {

// A JPEG cut short: its last scan (SOS, FF DA) has no end-of-image marker (FF D9) after it.
// libjpeg only warns about that ("Premature end of JPEG file") and fills the rest with grey.
// Byte stuffing keeps FF DA and FF D9 out of the entropy-coded data, and data appended after
// the EOI (some cameras do) is still accepted.
bool IsTruncatedJpeg(const std::string& b) {
  if (b.size() < 4 || static_cast<uint8_t>(b[0]) != 0xff || static_cast<uint8_t>(b[1]) != 0xd8)
    return false;
  const size_t last_scan = b.rfind("\xff\xda", std::string::npos, 2);
  if (last_scan == std::string::npos) return true;  // no image data at all
  return b.find("\xff\xd9", last_scan + 2, 2) == std::string::npos;
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
  const int64_t pixels = ImageHeaderPixels(bytes);
  if (pixels > kMaxImagePixels) {
    return absl::InvalidArgumentError(absl::StrCat("refused before decoding: ", pixels,
                                                   " pixels, more than the ", kMaxImagePixels,
                                                   " an image may have (docs/config.md)"));
  }
  if (IsTruncatedJpeg(bytes)) {
    return absl::InvalidArgumentError(
        "truncated JPEG (no end-of-image marker after its last scan)");
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
