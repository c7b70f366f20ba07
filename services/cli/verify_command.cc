// ftl verify: 10-fold verification accuracy of a model on InsightFace's .bin sets (lfw.bin,
// cfp_fp.bin, agedb_30.bin, ...), as InsightFace's verification.py reports it: pairs in 10
// contiguous folds, the threshold chosen on the other nine, embeddings of each image and its
// mirror image summed (--flip, on by default), plus TAR at FAR 1e-3.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/data/image_decode.h"
#include "common/data/verification_bin.h"
#include "common/eval/metrics.h"
#include "common/util/log.h"
#include "services/cli/commands.h"
#include "services/cli/tool_support.h"

namespace ftl {

// Prints a progress line every 2 s or so (name, images done, rate, ETA), as `ftl embed` does.
absl::StatusOr<VerificationResult> VerifyOnBin(CommandModel& model, const VerificationBin& bin,
                                               const std::string& name, bool flip, int batch_size) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_report = start;
  const int64_t n = static_cast<int64_t>(bin.images.size());
  std::vector<torch::Tensor> embeddings;
  for (int64_t first = 0; first < n; first += batch_size) {
    if (first > 0 && std::chrono::duration<double>(Clock::now() - last_report).count() > 2) {
      last_report = Clock::now();
      const double elapsed = std::chrono::duration<double>(last_report - start).count();
      std::cout << absl::StrFormat("verify: %s %d/%d images (%.0f%%) %.0f img/s ETA %s\n", name,
                                   first, n, 100.0 * first / n, first / std::max(elapsed, 1e-9),
                                   FormatDuration((n - first) * elapsed / first))
                << std::flush;
    }
    const int64_t count = std::min<int64_t>(batch_size, n - first);
    std::vector<absl::StatusOr<torch::Tensor>> decoded(count, absl::UnknownError(""));
    at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        decoded[i] = DecodeImage(bin.images[first + i], model.image);
    });
    std::vector<torch::Tensor> images;
    for (int64_t i = 0; i < count; ++i) {
      if (!decoded[i].ok()) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "image %d of pair %d: %s", first + i, (first + i) / 2, decoded[i].status().message()));
      }
      images.push_back(*decoded[i]);
    }
    embeddings.push_back(model.Embed(torch::stack(images), flip));
  }
  return ConsecutivePairVerification(torch::cat(embeddings), bin.same);
}

int RunVerify(const VerifyCommandOptions& o) {
  absl::StatusOr<CommandModel> model =
      ModelForCommand(o.model, o.checkpoint, o.features, o.cpu, o.threads, o.center_crop);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  std::cout << "verify: " << model->info.features << " embeddings, centre crop "
            << model->image.center_crop
            << (o.center_crop > 0 ? " (--center_crop)" : " (the model's)") << "\n";
  int failures = 0;
  for (const std::string& path : o.bins) {
    const auto start = std::chrono::steady_clock::now();
    const std::string name = std::filesystem::path(path).filename().string();
    std::cout << "verify: reading " << path << "\n" << std::flush;
    absl::StatusOr<VerificationBin> bin = ReadVerificationBin(path);
    absl::StatusOr<VerificationResult> result =
        bin.ok() ? VerifyOnBin(*model, *bin, name, o.flip, o.batch_size)
                 : absl::StatusOr<VerificationResult>(bin.status());
    if (!result.ok() && bin.ok()) {  // ReadVerificationBin's own errors name the file already
      result =
          absl::Status(result.status().code(), absl::StrCat(path, ": ", result.status().message()));
    }
    if (!result.ok()) {
      std::cerr << "ftl: error: " << result.status().message() << "\n";
      ++failures;
      continue;
    }
    std::cout << absl::StrFormat(
        "%s: accuracy %.4f +- %.4f, TAR %.4f at FAR 1e-3, TAR %.4f at FAR 1e-2 (%d pairs, 10 "
        "folds, %s%s, %.1f s)\n",
        name, result->accuracy, result->accuracy_std, result->tar_at_far_1e3,
        result->tar_at_far_1e2, bin->same.size(), model->info.features, o.flip ? " + mirror" : "",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace ftl
