#include "common/export/embedding_module.h"

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/util/status_macros.h"

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
      FTL_RETURN_IF_ERROR(One(*child, absl::StrCat(prefix, ".", index++), var));
    }
    return absl::OkStatus();
  }

  // `var` = layer(var) for one layer called `name`.
  absl::Status One(const nn::Module& layer, const std::string& name, const std::string& var) {
    const nn::Module* m = &layer;
    if (auto* conv = dynamic_cast<const nn::Conv2dImpl*>(m)) {
      const auto& o = conv->options;
      // padding() is a c10::variant in LibTorch 1.13 and a std::variant in 2.x: `get` by ADL.
      using std::get;
      const torch::ExpandingArray<2>& padding = get<torch::ExpandingArray<2>>(o.padding());
      // (input, weight, bias, stride, padding, dilation, groups): the MobileFaceNet's depthwise
      // convolutions are grouped.
      Line(absl::StrCat(var, " = torch.conv2d(", var, ", ", Param(name, "weight", conv->weight),
                        ", ", conv->bias.defined() ? Param(name, "bias", conv->bias) : "None",
                        ", [", (*o.stride())[0], ", ", (*o.stride())[1], "], [", padding->at(0),
                        ", ", padding->at(1), "], [", (*o.dilation())[0], ", ", (*o.dilation())[1],
                        "], ", o.groups(), ")"));
    } else if (auto* up = dynamic_cast<const UpsampleConv3x3Impl*>(m)) {
      const torch::Tensor* bias = up->named_parameters(false).find("bias");
      Line(absl::StrCat(var, " = torch.conv_transpose2d(", var, ", ",
                        Param(name, "weight", *up->named_parameters(false).find("weight")), ", ",
                        bias != nullptr ? Param(name, "bias", *bias) : "None",
                        ", [2, 2], [1, 1], [", up->output_padding(), ", ", up->output_padding(),
                        "])"));
    } else if (auto* norm = dynamic_cast<const nn::GroupNormImpl*>(m)) {
      Line(absl::StrCat(var, " = torch.group_norm(", var, ", ", norm->options.num_groups(), ", ",
                        Param(name, "weight", norm->weight), ", ", Param(name, "bias", norm->bias),
                        ", ", norm->options.eps(), ")"));
    } else if (auto* elu = dynamic_cast<const nn::ELUImpl*>(m)) {
      Line(absl::StrCat(var, " = torch.elu(", var, ", ", elu->options.alpha(), ")"));
    } else if (dynamic_cast<const nn::AdaptiveAvgPool2dImpl*>(m) != nullptr) {
      Line(absl::StrCat(var, " = torch.adaptive_avg_pool2d(", var, ", [1, 1])"));
    } else if (dynamic_cast<const nn::FlattenImpl*>(m) != nullptr) {
      Line(absl::StrCat(var, " = torch.flatten(", var, ", 1)"));
    } else if (auto* linear = dynamic_cast<const nn::LinearImpl*>(m)) {
      Linear(*linear, name, var, var);
    } else if (auto* bn = dynamic_cast<const nn::BatchNorm2dImpl*>(m)) {
      BatchNorm(*bn, name, var);
    } else if (auto* bn1d = dynamic_cast<const nn::BatchNorm1dImpl*>(m)) {
      BatchNorm(*bn1d, name, var);
    } else if (auto* prelu = dynamic_cast<const nn::PReLUImpl*>(m)) {
      Line(absl::StrCat(var, " = torch.prelu(", var, ", ", Param(name, "weight", prelu->weight),
                        ")"));
    } else if (auto* block = dynamic_cast<const MobileFaceNetBlockImpl*>(m)) {
      // Its `layers` in order, plus its input when residual (kept under a name of its own, so
      // that a residual block inside another's layers could not overwrite it).
      std::string shortcut;
      if (block->residual()) {
        shortcut = absl::StrCat("shortcut", shortcuts_++);
        Line(absl::StrCat(shortcut, " = ", var));
      }
      FTL_RETURN_IF_ERROR(Sequential(block->layers(), name + ".layers", var));
      if (block->residual()) Line(absl::StrCat(var, " = ", var, " + ", shortcut));
    } else if (auto* sequential = dynamic_cast<const nn::SequentialImpl*>(m)) {
      FTL_RETURN_IF_ERROR(Sequential(*sequential, name, var));
    } else {
      return absl::UnimplementedError(
          absl::StrCat("export: layer ", name, " (", m->name(), ") has no TorchScript form"));
    }
    return absl::OkStatus();
  }

  // Inference batch norm (running statistics), 2-d or 1-d.
  template <typename BatchNormImpl>
  void BatchNorm(const BatchNormImpl& bn, const std::string& name, const std::string& var) {
    Line(absl::StrCat(
        var, " = torch.batch_norm(", var, ", ", Param(name, "weight", bn.weight), ", ",
        Param(name, "bias", bn.bias), ", ", Param(name, "running_mean", bn.running_mean), ", ",
        Param(name, "running_var", bn.running_var), ", False, 0.0, ", bn.options.eps(), ", True)"));
  }

  // arcface_torch's IResNet: stem, four stages of IBasicBlocks (residual sums), bn2, fc, features.
  absl::Status IResNet(const nn::Module& net, const std::string& prefix, const std::string& var) {
    std::map<std::string, std::shared_ptr<nn::Module>> parts;
    for (const auto& item : net.named_children()) parts[item.key()] = item.value();
    for (const char* stem : {"conv1", "bn1", "prelu"}) {
      FTL_RETURN_IF_ERROR(One(*parts.at(stem), absl::StrCat(prefix, ".", stem), var));
    }
    for (int stage = 1; stage <= 4; ++stage) {
      const std::string layer = absl::StrCat("layer", stage);
      int index = 0;
      for (const auto& block : parts.at(layer)->children()) {
        const std::string name = absl::StrCat(prefix, ".", layer, ".", index++);
        std::map<std::string, std::shared_ptr<nn::Module>> b;
        for (const auto& item : block->named_children()) b[item.key()] = item.value();
        if (b.count("downsample")) {
          Line(absl::StrCat("shortcut = ", var));
          const auto* down = dynamic_cast<const nn::SequentialImpl*>(b.at("downsample").get());
          if (down == nullptr) return absl::InternalError("export: a downsample is not sequential");
          FTL_RETURN_IF_ERROR(Sequential(*down, name + ".downsample", "shortcut"));
        } else {
          Line(absl::StrCat("shortcut = ", var));
        }
        for (const char* step : {"bn1", "conv1", "bn2", "prelu", "conv2", "bn3"}) {
          FTL_RETURN_IF_ERROR(One(*b.at(step), absl::StrCat(name, ".", step), var));
        }
        Line(absl::StrCat(var, " = ", var, " + shortcut"));
      }
    }
    FTL_RETURN_IF_ERROR(One(*parts.at("bn2"), prefix + ".bn2", var));
    Line(absl::StrCat(var, " = torch.flatten(", var, ", 1)"));
    FTL_RETURN_IF_ERROR(One(*parts.at("fc"), prefix + ".fc", var));
    return One(*parts.at("features"), prefix + ".features", var);
  }

  // arcface_torch's MobileFaceNet: its `layers` in order, conv_sep, features (the GDC).
  absl::Status MobileFaceNet(const nn::Module& net, const std::string& prefix,
                             const std::string& var) {
    std::map<std::string, std::shared_ptr<nn::Module>> parts;
    for (const auto& item : net.named_children()) parts[item.key()] = item.value();
    for (const char* part : {"layers", "conv_sep", "features"}) {
      FTL_RETURN_IF_ERROR(One(*parts.at(part), absl::StrCat(prefix, ".", part), var));
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
  int shortcuts_ = 0;  // residual inputs named so far
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
  if (const auto* iresnet = Child<IResNetImpl>(*model->enc, "iresnet")) {
    FTL_RETURN_IF_ERROR(w.IResNet(*iresnet, "enc.iresnet", "x"));
  } else if (const auto* mbf = Child<MobileFaceNetImpl>(*model->enc, "mobilefacenet")) {
    FTL_RETURN_IF_ERROR(w.MobileFaceNet(*mbf, "enc.mobilefacenet", "x"));
  } else {
    const auto* enc_body = Child<nn::SequentialImpl>(*model->enc, "body");
    if (enc_body == nullptr) return absl::InternalError("export: the encoder has no body");
    FTL_RETURN_IF_ERROR(w.Sequential(*enc_body, "enc.body", "x"));
  }
  if (options.features == FeatureLayer::kF && model->filter->kind() == FilterKind::kMlp) {
    const auto* mlp = Child<nn::SequentialImpl>(*model->filter, "mlp");
    if (mlp == nullptr) return absl::InternalError("export: the filter R has no mlp");
    FTL_RETURN_IF_ERROR(w.Sequential(*mlp, "filter.mlp", "x"));
  } else if (options.features == FeatureLayer::kF && model->filter->kind() == FilterKind::kPaper) {
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
