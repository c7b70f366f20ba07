// ftl embed: images to embeddings with an exported module (or a checkpoint): embeddings.npy
// (float32 N x D, L2-normalised) and names.txt (one sample per line, same order), streamed batch
// by batch, never the whole set in memory. Unreadable images are listed in skipped.txt and left
// out; the files appear only when the run succeeded.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/data/dataset.h"
#include "common/data/image_stream.h"
#include "common/export/embedding_module.h"
#include "common/export/npy_writer.h"
#include "common/train/trained_model.h"
#include "common/util/log.h"
#include "services/cli/commands.h"
#include "services/cli/tool_support.h"

namespace ftl {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

}  // namespace

int RunEmbed(const EmbedCommandOptions& o) {
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec || !fs::is_directory(o.out)) {
    return Fail(absl::StrCat("--out: cannot create folder '", o.out, "'"), 2);
  }
  absl::StatusOr<CommandModel> model =
      ModelForCommand(o.model, o.checkpoint, o.features, o.cpu, o.threads, o.center_crop);
  if (!model.ok()) return Fail(std::string(model.status().message()));
  const EmbeddingModuleInfo& info = model->info;

  DataConfig data = o.data;
  std::vector<std::string> only;
  if (!o.manifest.empty()) {
    absl::StatusOr<std::vector<std::string>> listed = ReadManifest(o.manifest);
    if (!listed.ok()) return Fail(std::string(listed.status().message()), 2);
    only = *std::move(listed);
  }
  absl::StatusOr<Dataset> source =
      StreamSource(data, model->image, o.manifest.empty() ? nullptr : &only);
  if (!source.ok()) return Fail(std::string(source.status().message()));
  const int64_t n = source->size();
  ImageStream& stream = *source->stream;

  const fs::path out(o.out);
  const std::string partial = absl::StrCat(".partial-", getpid());
  const fs::path npy_partial = out / ("embeddings.npy" + partial);
  const fs::path names_partial = out / ("names.txt" + partial);
  // Every way out but success removes the partial files.
  auto fail = [&](const std::string& message, int code = 1) {
    std::error_code ignored;
    fs::remove(npy_partial, ignored);
    fs::remove(names_partial, ignored);
    return Fail(message, code);
  };
  absl::StatusOr<NpyWriter> npy = NpyWriter::Create(npy_partial.string(), info.feature_dim);
  if (!npy.ok()) return fail(std::string(npy.status().message()), 2);
  std::ofstream names(names_partial);
  std::vector<std::string> skipped;
  std::cout << absl::StrFormat("embed: %d images of %s, %dx%dx%d, %s%s on %s, batches of %d\n", n,
                               data.path, info.input_size, info.input_size, info.channels,
                               info.features, o.flip ? " (+ mirror image)" : "",
                               model->device.str(), o.batch_size);
  const auto start = Clock::now();
  auto last_report = start;
  for (int64_t first = 0; first < n; first += o.batch_size) {
    const int64_t count = std::min<int64_t>(o.batch_size, n - first);
    std::vector<absl::StatusOr<torch::Tensor>> decoded(count, absl::UnknownError(""));
    at::parallel_for(0, count, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        decoded[i] = stream.Decode(source->sample_names[first + i]);
    });
    std::vector<torch::Tensor> images;
    std::vector<const std::string*> kept;
    for (int64_t i = 0; i < count; ++i) {
      const std::string& name = source->sample_names[first + i];
      if (decoded[i].ok()) {
        images.push_back(*decoded[i]);
        kept.push_back(&name);
      } else {
        skipped.push_back(absl::StrCat(name, "\t", decoded[i].status().message()));
      }
    }
    if (!images.empty()) {
      const torch::Tensor e = model->Embed(torch::stack(images), o.flip);
      if (absl::Status s = npy->Append(e.data_ptr<float>(), e.size(0)); !s.ok()) {
        return fail(std::string(s.message()));
      }
      for (const std::string* name : kept) names << *name << "\n";
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    const int64_t done = first + count;
    if (std::chrono::duration<double>(Clock::now() - last_report).count() > 2 || done == n) {
      last_report = Clock::now();
      std::cout << absl::StrFormat("embed: %d/%d (%.0f%%) %.0f img/s ETA %s\n", done, n,
                                   100.0 * done / n, done / std::max(elapsed, 1e-9),
                                   FormatDuration((n - done) * elapsed / done))
                << std::flush;
    }
  }
  names.close();
  const int64_t rows = npy->rows();
  absl::Status finished = npy->Finish();
  if (!finished.ok() || !names) {
    return fail(finished.ok() ? "cannot write names.txt" : std::string(finished.message()));
  }
  if (rows == 0) {
    return fail(absl::StrCat("no image of ", data.path, " could be read (", skipped.size(),
                             " unreadable; the first: ", skipped.empty() ? "-" : skipped[0], ")"));
  }
  // names.txt first: a reader that finds embeddings.npy finds the names that go with it.
  std::ofstream skipped_file(out / "skipped.txt");
  for (const std::string& line : skipped) skipped_file << line << "\n";
  skipped_file.close();
  fs::rename(names_partial, out / "names.txt", ec);
  if (!ec) fs::rename(npy_partial, out / "embeddings.npy", ec);
  if (ec || !skipped_file) {
    return fail(absl::StrCat("cannot write into '", o.out,
                             "': ", ec ? ec.message() : std::string("skipped.txt")));
  }
  std::cout << absl::StrFormat("embed: %d embeddings (%d-d) in %s/embeddings.npy, names.txt", rows,
                               info.feature_dim, o.out);
  if (!skipped.empty())
    std::cout << absl::StrFormat("; %d unreadable in skipped.txt", skipped.size());
  std::cout << "\n";
  return 0;
}

}  // namespace ftl
