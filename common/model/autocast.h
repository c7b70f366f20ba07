// bfloat16 autocast for CUDA forward passes, as a scope (torch.autocast in Python). LibTorch's
// C++ autocast API changed in 2.x; both spellings are here so the CPU (Debian 1.13) and CUDA
// (PyPI 2.x) builds share the trainer.
#ifndef FTL_COMMON_MODEL_AUTOCAST_H_
#define FTL_COMMON_MODEL_AUTOCAST_H_

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

namespace ftl {

class Bf16AutocastScope {
 public:
  // Does nothing unless `enabled` (callers pass: device is CUDA and the config asks for it).
  explicit Bf16AutocastScope(bool enabled) : enabled_(enabled) {
    if (!enabled_) return;
#if TORCH_VERSION_MAJOR >= 2
    was_enabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    previous_dtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
#else
    was_enabled_ = at::autocast::is_enabled();
    previous_dtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
#endif
    at::autocast::increment_nesting();
  }
  ~Bf16AutocastScope() {
    if (!enabled_) return;
    // The cast cache holds bf16 copies of the weights; they are stale after the optimizer step.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR >= 2
    at::autocast::set_autocast_enabled(at::kCUDA, was_enabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, previous_dtype_);
#else
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_dtype_);
#endif
  }
  Bf16AutocastScope(const Bf16AutocastScope&) = delete;
  Bf16AutocastScope& operator=(const Bf16AutocastScope&) = delete;

 private:
  bool enabled_;
  bool was_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
};

}  // namespace ftl

#endif  // FTL_COMMON_MODEL_AUTOCAST_H_
