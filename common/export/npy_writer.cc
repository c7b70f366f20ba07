#include "common/export/npy_writer.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace ftl {
namespace {

// A fixed header size (magic, version, length, dictionary, padding): room for any row count, so
// the final header fits where the first was written.
constexpr size_t kHeaderBytes = 128;

}  // namespace

std::string NpyHeader(int64_t rows, int64_t columns) {
  std::string dict = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", rows, ", ",
                                  columns, "), }");
  const size_t preamble = 10;  // magic (6) + version (2) + header length (2)
  dict.append(kHeaderBytes - preamble - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string header("\x93NUMPY\x01\x00", 8);
  header.push_back(static_cast<char>(dict.size() & 0xff));
  header.push_back(static_cast<char>(dict.size() >> 8));
  return header + dict;
}

absl::StatusOr<NpyWriter> NpyWriter::Create(const std::string& path, int64_t columns) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot write '", path, "': ", std::strerror(errno)));
  }
  NpyWriter writer(file, path, columns);
  if (absl::Status s = writer.WriteHeader(); !s.ok()) return s;
  return writer;
}

NpyWriter::NpyWriter(NpyWriter&& other) noexcept
    : file_(other.file_),
      path_(std::move(other.path_)),
      columns_(other.columns_),
      rows_(other.rows_) {
  other.file_ = nullptr;
}

NpyWriter::~NpyWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status NpyWriter::WriteHeader() {
  const std::string header = NpyHeader(rows_, columns_);
  if (std::fseek(file_, 0, SEEK_SET) != 0 ||
      std::fwrite(header.data(), 1, header.size(), file_) != header.size()) {
    return absl::InternalError(absl::StrCat("cannot write '", path_, "': ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status NpyWriter::Append(const float* data, int64_t rows) {
  static_assert(sizeof(float) == 4 && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
                "the header says <f4: little-endian 4-byte floats");
  const size_t n = static_cast<size_t>(rows * columns_);
  if (std::fseek(file_, 0, SEEK_END) != 0 || std::fwrite(data, sizeof(float), n, file_) != n) {
    return absl::InternalError(absl::StrCat("cannot write '", path_, "': ", std::strerror(errno)));
  }
  rows_ += rows;
  return absl::OkStatus();
}

absl::Status NpyWriter::Finish() {
  absl::Status status = WriteHeader();
  if (std::fclose(file_) != 0 && status.ok()) {
    status =
        absl::InternalError(absl::StrCat("cannot write '", path_, "': ", std::strerror(errno)));
  }
  file_ = nullptr;
  return status;
}

}  // namespace ftl
