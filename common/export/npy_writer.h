// Writes a float32 matrix as NumPy's .npy format (version 1.0, little-endian '<f4', C order), row
// by row, without knowing the row count up front: the header is rewritten with the final shape
// when the file is finished. `numpy.load` reads the result.
#ifndef FTL_COMMON_EXPORT_NPY_WRITER_H_
#define FTL_COMMON_EXPORT_NPY_WRITER_H_

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftl {

class NpyWriter {
 public:
  // Creates (truncates) `path` for rows of `columns` floats.
  static absl::StatusOr<NpyWriter> Create(const std::string& path, int64_t columns);
  NpyWriter(NpyWriter&& other) noexcept;
  NpyWriter& operator=(NpyWriter&&) = delete;
  ~NpyWriter();

  // Appends `rows` rows of `columns` floats from `data` (row-major).
  absl::Status Append(const float* data, int64_t rows);
  // Writes the final header and closes the file.
  absl::Status Finish();
  int64_t rows() const { return rows_; }

 private:
  NpyWriter(std::FILE* file, std::string path, int64_t columns)
      : file_(file), path_(std::move(path)), columns_(columns) {}
  absl::Status WriteHeader();

  std::FILE* file_ = nullptr;
  std::string path_;
  int64_t columns_ = 0;
  int64_t rows_ = 0;
};

// The header a .npy of a rows x columns float32 matrix starts with (exposed for tests).
std::string NpyHeader(int64_t rows, int64_t columns);

}  // namespace ftl

#endif  // FTL_COMMON_EXPORT_NPY_WRITER_H_
