// Augmentation of training batches: which entries of a global batch are mirrored
// (data.random_flip), which shift each gets (data.random_crop_pixels), and the shifting itself.
// Each draw is a pure function of (seed, stream, step, position in the global batch), independent
// of the batch's sample draw and of the other augmentation, so streamed == in memory, R ranks x B
// == 1 rank x RB, and resume == continue.
#ifndef FTL_COMMON_DATA_AUGMENT_H_
#define FTL_COMMON_DATA_AUGMENT_H_

#include <torch/torch.h>

#include <cstdint>

#include "common/data/sampler.h"

namespace ftl {

// Which entries of the global batch of `size` drawn at `step` of `stream` are mirrored: [size]
// bool, each true with probability 1/2.
torch::Tensor FlipMask(uint64_t seed, SampleStream stream, int64_t step, int64_t size);

// [size, 2] int64 (dy, dx), each uniform in [-max_shift, max_shift], for the global batch of `size`
// drawn at `step` of `stream`; independent of the batch's draw and of its flips. max_shift 0: all
// zeros.
torch::Tensor CropShifts(uint64_t seed, SampleStream stream, int64_t step, int64_t size,
                         int max_shift);

// `images` [B, C, H, W] with entry i cut at offset shifts[i] = (dy, dx) from itself padded with
// zeros: out[i, c, y, x] = images[i, c, y + dy, x + dx] where that pixel exists, else 0 (a
// random crop of the padded image, the same size as the input).
torch::Tensor ShiftImages(const torch::Tensor& images, const torch::Tensor& shifts);

}  // namespace ftl

#endif  // FTL_COMMON_DATA_AUGMENT_H_
