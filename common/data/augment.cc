#include "common/data/augment.h"

#include <cstdint>
#include <random>

namespace ftl {
namespace {

// The engine of one augmentation's draws for (seed, stream, step): a seed sequence led by a tag
// no sampler uses, so each augmentation follows neither the batch's draw nor the other's.
std::mt19937_64 AugmentRng(uint32_t tag, uint64_t seed, SampleStream stream, int64_t step) {
  std::seed_seq seq{tag,
                    static_cast<uint32_t>(seed),
                    static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(stream),
                    static_cast<uint32_t>(step),
                    static_cast<uint32_t>(static_cast<uint64_t>(step) >> 32)};
  return std::mt19937_64(seq);
}

constexpr uint32_t kFlipTag = 0x666c6970;  // "flip"
constexpr uint32_t kCropTag = 0x63726f70;  // "crop"

}  // namespace

torch::Tensor FlipMask(uint64_t seed, SampleStream stream, int64_t step, int64_t size) {
  std::mt19937_64 rng = AugmentRng(kFlipTag, seed, stream, step);
  torch::Tensor mask = torch::empty({size}, torch::kBool);
  bool* out = mask.data_ptr<bool>();
  for (int64_t i = 0; i < size; ++i) out[i] = (rng() >> 63) != 0;
  return mask;
}

torch::Tensor CropShifts(uint64_t seed, SampleStream stream, int64_t step, int64_t size,
                         int max_shift) {
  torch::Tensor shifts = torch::zeros({size, 2}, torch::kInt64);
  if (max_shift <= 0) return shifts;
  std::mt19937_64 rng = AugmentRng(kCropTag, seed, stream, step);
  // Uniform on [-max_shift, max_shift] from the engine's raw bits by rejection (the standard
  // distributions differ between standard libraries; these draws must not, or resume could not
  // continue a checkpoint written by another build).
  const uint64_t range = 2 * static_cast<uint64_t>(max_shift) + 1;
  const uint64_t limit = UINT64_MAX - UINT64_MAX % range;
  int64_t* out = shifts.data_ptr<int64_t>();
  for (int64_t i = 0; i < 2 * size; ++i) {
    uint64_t bits = rng();
    while (bits >= limit) bits = rng();
    out[i] = static_cast<int64_t>(bits % range) - max_shift;
  }
  return shifts;
}

torch::Tensor ShiftImages(const torch::Tensor& images, const torch::Tensor& shifts) {
  TORCH_CHECK(shifts.dim() == 2 && shifts.size(0) == images.size(0) && shifts.size(1) == 2,
              "ShiftImages: shifts must be [B, 2] for B images");
  const torch::Tensor cpu_shifts = shifts.to(torch::kCPU, torch::kInt64);
  const int64_t pad = cpu_shifts.numel() > 0 ? cpu_shifts.abs().max().item<int64_t>() : 0;
  if (pad == 0) return images;
  const int64_t batch = images.size(0), channels = images.size(1);
  const int64_t height = images.size(2), width = images.size(3);
  const torch::Tensor padded = torch::constant_pad_nd(images, {pad, pad, pad, pad}, 0);
  // Two gathers over the whole batch (rows, then columns) instead of one copy per image: on a GPU
  // a per-image copy is one kernel launch per image.
  const auto index_options = torch::TensorOptions().dtype(torch::kInt64).device(images.device());
  const torch::Tensor offsets = cpu_shifts.to(images.device()) + pad;  // [B, 2]
  const torch::Tensor rows = torch::arange(height, index_options).unsqueeze(0) +
                             offsets.select(1, 0).unsqueeze(1);  // [B, H]
  const torch::Tensor cols = torch::arange(width, index_options).unsqueeze(0) +
                             offsets.select(1, 1).unsqueeze(1);  // [B, W]
  const int64_t padded_width = padded.size(3);
  const torch::Tensor cut_rows = padded.gather(
      2, rows.view({batch, 1, height, 1}).expand({batch, channels, height, padded_width}));
  return cut_rows.gather(3,
                         cols.view({batch, 1, 1, width}).expand({batch, channels, height, width}));
}

}  // namespace ftl
