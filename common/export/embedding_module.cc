#include "common/export/embedding_module.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace ftl {
namespace {

namespace nn = torch::nn;

constexpr int64_t kFormatVersion = 1;

// Only aten operators (torch.<op>) resolve in TorchScript compiled from C++: no
// torch.nn.functional. Writes TorchScript for the layers of a trained module, registering copies of
// their weights on `out` under names derived from the C++ parameter names ("enc.body.0.weight" ->
// "enc_body_0_weight"). Only the layer types our model uses are known; any other is an error,
// so a model change cannot silently export something else.
class ScriptWriter {
 public:
  explicit ScriptWriter(torch::jit::Module* out) : out_(out) {}

  // `var` = layer(var) for every child of `sequential`, in order.
  absl::Status Sequential(const nn::SequentialImpl& sequential, const std::string& prefix,
                          const std::string& var) {
    size_t index = 0;
    for (const auto& child : sequential.children()) {
      const std::string name = absl::StrCat(prefix, ".", index++);
      nn::Module* m = child.get();
      if (auto* conv = dynamic_cast<nn::Conv2dImpl*>(m)) {
        const auto& o = conv->options;
        // padding() is a c10::variant in LibTorch 1.13 and a std::variant in 2.x: `get` by ADL.
        using std::get;
        const torch::ExpandingArray<2>& padding = get<torch::ExpandingArray<2>>(o.padding());
        Line(absl::StrCat(var, " = torch.conv2d(", var, ", ", Param(name, "weight", conv->weight),
                          ", ", conv->bias.defined() ? Param(name, "bias", conv->bias) : "None",
                          ", [", (*o.stride())[0], ", ", (*o.stride())[1], "], [", padding->at(0),
                          ", ", padding->at(1), "])"));
      } else if (auto* up = dynamic_cast<UpsampleConv3x3Impl*>(m)) {
        const torch::Tensor* bias = up->named_parameters(false).find("bias");
        Line(absl::StrCat(var, " = torch.conv_transpose2d(", var, ", ",
                          Param(name, "weight", *up->named_parameters(false).find("weight")), ", ",
                          bias != nullptr ? Param(name, "bias", *bias) : "None",
                          ", [2, 2], [1, 1], [", up->output_padding(), ", ", up->output_padding(),
                          "])"));
      } else if (auto* norm = dynamic_cast<nn::GroupNormImpl*>(m)) {
        Line(absl::StrCat(var, " = torch.group_norm(", var, ", ", norm->options.num_groups(), ", ",
                          Param(name, "weight", norm->weight), ", ",
                          Param(name, "bias", norm->bias), ", ", norm->options.eps(), ")"));
      } else if (auto* elu = dynamic_cast<nn::ELUImpl*>(m)) {
        Line(absl::StrCat(var, " = torch.elu(", var, ", ", elu->options.alpha(), ")"));
      } else if (dynamic_cast<nn::AdaptiveAvgPool2dImpl*>(m) != nullptr) {
        Line(absl::StrCat(var, " = torch.adaptive_avg_pool2d(", var, ", [1, 1])"));
      } else if (dynamic_cast<nn::FlattenImpl*>(m) != nullptr) {
        Line(absl::StrCat(var, " = torch.flatten(", var, ", 1)"));
      } else if (auto* linear = dynamic_cast<nn::LinearImpl*>(m)) {
        Linear(*linear, name, var, var);
      } else {
        return absl::UnimplementedError(
            absl::StrCat("export: layer ", name, " (", m->name(), ") has no TorchScript form"));
      }
    }
    return absl::OkStatus();
  }

  void Linear(const nn::LinearImpl& linear, const std::string& name, const std::string& out,
              const std::string& in) {
    Line(absl::StrCat(out, " = torch.linear(", in, ", ", Param(name, "weight", linear.weight), ", ",
                      linear.bias.defined() ? Param(name, "bias", linear.bias) : "None", ")"));
  }

  void Line(const std::string& line) { absl::StrAppend(&body_, "        ", line, "\n"); }
  const std::string& body() const { return body_; }

 private:
  std::string Param(const std::string& module, const std::string& what,
                    const torch::Tensor& value) {
    const std::string name =
        absl::StrCat("self.", absl::StrReplaceAll(module, {{".", "_"}}), "_", what);
    out_->register_parameter(name.substr(5), value.detach().to(torch::kCPU).clone(),
                             /*is_buffer=*/false);
    return name;
  }

  torch::jit::Module* out_;
  std::string body_;
};

template <typename Impl>
const Impl* Child(const nn::Module& parent, const std::string& name) {
  for (const auto& item : parent.named_children()) {
    if (item.key() == name) return dynamic_cast<const Impl*>(item.value().get());
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<torch::jit::Module> BuildEmbeddingModule(const FtlModel& model,
                                                        const ModelShape& shape,
                                                        const EmbeddingModuleOptions& options) {
  torch::jit::Module out("FtlEmbedding");
  ScriptWriter w(&out);
  // As the trainer: uint8 / 255, then the encoder centres [0, 1] to [-1, 1].
  w.Line("x = images.float() / 255.0");
  w.Line("x = x * 2.0 - 1.0");
  const auto* enc_body = Child<nn::SequentialImpl>(*model->enc, "body");
  if (enc_body == nullptr) return absl::InternalError("export: the encoder has no body");
  if (absl::Status s = w.Sequential(*enc_body, "enc.body", "x"); !s.ok()) return s;
  if (options.features == FeatureLayer::kF) {
    const auto* project = Child<nn::LinearImpl>(*model->filter, "project");
    const auto* body = Child<nn::SequentialImpl>(*model->filter, "body");
    const auto* last = Child<nn::LinearImpl>(*model->filter, "out");
    if (project == nullptr || body == nullptr || last == nullptr) {
      return absl::InternalError("export: the filter R is not linear, body, linear");
    }
    const int64_t width = project->options.out_features() / 16;  // a width x 4 x 4 grid
    w.Linear(*project, "filter.project", "x", "x");
    w.Line(absl::StrCat("x = x.view(x.size(0), ", width, ", 4, 4)"));
    if (absl::Status s = w.Sequential(*body, "filter.body", "x"); !s.ok()) return s;
    w.Linear(*last, "filter.out", "x", "x");
  }
  // (A dtype is its ScalarType number in the script below: no Python resolves torch.uint8; 0 is
  // uint8. The checks are asserts: ValueError needs Python too.)
  out.register_attribute("input_size", c10::IntType::get(), int64_t{shape.input_size});
  out.register_attribute("channels", c10::IntType::get(), int64_t{shape.channels});
  out.register_attribute("feature_dim", c10::IntType::get(), int64_t{shape.feature_dim});
  out.register_attribute("feature_layer", c10::StringType::get(),
                         std::string(options.features == FeatureLayer::kF ? "f" : "g"));
  out.register_attribute("center_crop", c10::FloatType::get(), options.center_crop);
  out.register_attribute("format_version", c10::IntType::get(), kFormatVersion);
  const std::string expected =
      absl::StrCat("[N, ", shape.channels, ", ", shape.input_size, ", ", shape.input_size, "]");
  const std::string source = absl::StrCat(
      "def features(self, images: Tensor) -> Tensor:\n", w.body(), "        return x\n",
      "\n"
      "def forward(self, images: Tensor) -> Tensor:\n"
      "        assert images.dtype == 0, \"expected uint8 images ",
      expected,
      " (0-255, RGB or grey, cropped and resized as in training), got another dtype\"\n"
      "        assert images.dim() == 4 and images.size(1) == ",
      shape.channels, " and images.size(2) == ", shape.input_size,
      " and images.size(3) == ", shape.input_size, ", \"expected uint8 images ", expected,
      ", got shape \" + str(images.shape)\n"
      "        x = self.features(images)\n"
      "        return x / torch.clamp_min(torch.linalg_vector_norm(x, 2.0, [1], True), 1e-12)\n");
  try {
    out.define(source);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("export: generated TorchScript does not compile: ",
                                            e.what_without_backtrace()));
  }
  out.eval();
  return out;
}

absl::StatusOr<torch::jit::Module> LoadEmbeddingModule(const std::string& path,
                                                       EmbeddingModuleInfo* info) {
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not a TorchScript module (made by `ftl export`): ",
                     std::string(e.what_without_backtrace()).substr(0, 200)));
  }
  for (const char* attribute : {"input_size", "channels", "feature_dim", "feature_layer"}) {
    const bool text = std::string(attribute) == "feature_layer";
    if (!module.hasattr(attribute) ||
        (text ? !module.attr(attribute).isString() : !module.attr(attribute).isInt())) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", path, "' is a TorchScript module but not an FTL embedding (no '",
                       attribute, "'; make one with `ftl export`)"));
    }
  }
  if (info != nullptr) {
    info->input_size = static_cast<int>(module.attr("input_size").toInt());
    info->channels = static_cast<int>(module.attr("channels").toInt());
    info->feature_dim = static_cast<int>(module.attr("feature_dim").toInt());
    info->features = module.attr("feature_layer").toStringRef();
    info->center_crop = module.hasattr("center_crop") && module.attr("center_crop").isDouble()
                            ? module.attr("center_crop").toDouble()
                            : 1.0;
  }
  module.eval();
  return module;
}

}  // namespace ftl
