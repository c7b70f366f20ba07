// For safetensors_interop_test.sh: `safetensors_probe read FILE` lists a file as
// tests/safetensors_interop.py does (one "name dtype [shape] sum" line per tensor, sorted, then
// "meta key=value" lines); `safetensors_probe write FILE` writes the interop set and lists it.
#include <cstdio>
#include <string>

#include "absl/strings/str_join.h"
#include "common/checkpoint/safetensors.h"

namespace {

const char* DtypeName(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat64:
      return "F64";
    case torch::kFloat32:
      return "F32";
    case torch::kFloat16:
      return "F16";
    case torch::kInt64:
      return "I64";
    case torch::kInt32:
      return "I32";
    case torch::kInt16:
      return "I16";
    case torch::kInt8:
      return "I8";
    case torch::kUInt8:
      return "U8";
    case torch::kBool:
      return "BOOL";
    default:
      return "?";
  }
}

void List(const ftl::NamedTensors& contents) {
  for (const auto& [name, t] : contents.tensors) {
    std::printf("%s %s [%s] %.6g\n", name.c_str(), DtypeName(t.scalar_type()),
                absl::StrJoin(t.sizes(), ",").c_str(), t.to(torch::kFloat64).sum().item<double>());
  }
  for (const auto& [key, value] : contents.metadata) {
    std::printf("meta %s=%s\n", key.c_str(), value.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: safetensors_probe read|write FILE\n");
    return 2;
  }
  const std::string mode = argv[1], path = argv[2];
  if (mode == "write") {
    ftl::NamedTensors contents;
    const torch::Tensor base = torch::arange(24, torch::kFloat64).reshape({2, 3, 4});
    contents.tensors["f64"] = base / 7.0;
    contents.tensors["f32"] = (base / 3.0).to(torch::kFloat32).transpose(0, 2);
    contents.tensors["f16"] = (base / 4.0).to(torch::kFloat16);
    contents.tensors["i64"] = (base * 1e9).to(torch::kInt64);
    contents.tensors["i32"] = (base - 10).to(torch::kInt32);
    contents.tensors["i16"] = (base * -3).to(torch::kInt16);
    contents.tensors["i8"] = (base - 12).to(torch::kInt8);
    contents.tensors["u8"] = (base * 10).to(torch::kUInt8);
    contents.tensors["bool"] = base.remainder(3).eq(0);
    contents.tensors["scalar"] = torch::tensor(2.5, torch::kFloat32);
    contents.tensors["empty"] = torch::zeros({0, 3}, torch::kFloat32);
    contents.metadata["format"] = "ftl interop";
    contents.metadata["quoted"] = "a \"b\" \\ c";
    if (!ftl::WriteSafetensorsFile(path, contents).ok()) return 1;
    List(contents);
    return 0;
  }
  absl::StatusOr<ftl::NamedTensors> read = ftl::ReadSafetensorsFile(path);
  if (!read.ok()) {
    std::fprintf(stderr, "%s\n", std::string(read.status().message()).c_str());
    return 1;
  }
  List(*read);
  return 0;
}
