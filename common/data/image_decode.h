// Decoding one encoded image (any OpenCV-readable format) to a C x S x S uint8 tensor.
#ifndef FTL_COMMON_DATA_IMAGE_DECODE_H_
#define FTL_COMMON_DATA_IMAGE_DECODE_H_

#include <torch/torch.h>

#include <opencv2/core.hpp>

#include "absl/status/statusor.h"
#include "common/data/dataset.h"

namespace ftl {

// Crops the centre (options.center_crop of the shorter side), resizes to options.size and
// converts to options.channels (RGB order for colour). `image` is 8-bit grey or BGR.
torch::Tensor ImageToTensor(const cv::Mat& image, const ImageOptions& options);

// Images over this many pixels (width x height from the header) are refused before decoding: a
// small compressed file can expand to gigabytes ("decompression bomb"). Face crops are far below.
inline constexpr int64_t kMaxImagePixels = 40'000'000;

// Width x height read from the header of a JPEG, PNG, PNM, BMP, TIFF or WebP, before any decoder
// allocates for it (OpenCV has no header-only read, and its own limit, 2^30 pixels, is fixed when
// the library loads). 0 when the header does not say (the decoder then refuses the file).
int64_t ImageHeaderPixels(const std::string& bytes);

// Decodes encoded bytes (JPEG, PNG, PGM/PPM, BMP, TIFF, WebP; other formats are refused before
// any decoder sees them); InvalidArgument when they are not a readable image, are over
// kMaxImagePixels, or are a JPEG cut short (libjpeg would fill the missing part with grey).
absl::StatusOr<torch::Tensor> DecodeImage(const std::string& bytes, const ImageOptions& options);

// Reads and decodes a file; NotFound / InvalidArgument with the path in the message.
absl::StatusOr<torch::Tensor> ReadImageFile(const std::string& path, const ImageOptions& options);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_IMAGE_DECODE_H_
