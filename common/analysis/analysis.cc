#include "common/analysis/analysis.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <random>

#include "absl/strings/str_cat.h"

namespace ftl {
namespace {

constexpr int64_t kBatch = 128;
constexpr int kScale = 2;   // pixels per input pixel in the pictures
constexpr int kBorder = 2;  // white gap between cells
constexpr int kLabelWidth = 120;

// The pictures are drawn on the CPU whatever device the model is on: inputs go to the model's
// device, results come back.
torch::Device ModelDevice(FtlModel& model) { return model->parameters().front().device(); }

torch::Tensor Encode(FtlModel& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  const torch::Device device = ModelDevice(model);
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < x.size(0); b += kBatch)
    out.push_back(model->enc->forward(x.slice(0, b, b + kBatch).to(device)).cpu());
  return torch::cat(out);
}

torch::Tensor Decode(FtlModel& model, const torch::Tensor& g) {
  torch::NoGradGuard no_grad;
  return model->dec->forward(g.to(ModelDevice(model), torch::kFloat32)).cpu();
}

// [C, S, S] in [0, 1] -> an 8-bit BGR cell, scaled up.
cv::Mat ToCell(const torch::Tensor& image) {
  const torch::Tensor hwc = image.detach()
                                .cpu()
                                .clamp(0, 1)
                                .mul(255)
                                .round()
                                .to(torch::kUInt8)
                                .permute({1, 2, 0})
                                .contiguous();
  const int s = static_cast<int>(hwc.size(0)), channels = static_cast<int>(hwc.size(2));
  cv::Mat mat(s, s, channels == 1 ? CV_8UC1 : CV_8UC3, hwc.data_ptr<uint8_t>());
  cv::Mat bgr;
  if (channels == 1) {
    cv::cvtColor(mat, bgr, cv::COLOR_GRAY2BGR);
  } else {
    cv::cvtColor(mat, bgr, cv::COLOR_RGB2BGR);
  }
  cv::Mat scaled;
  cv::resize(bgr, scaled, cv::Size(), kScale, kScale, cv::INTER_NEAREST);
  return scaled;  // owns its pixels; hwc may go
}

struct GridRow {
  std::string label;
  std::vector<torch::Tensor> cells;  // [C, S, S]; undefined = empty cell
};

absl::Status WriteGrid(const std::vector<GridRow>& rows, int side, const std::string& path) {
  size_t columns = 0;
  for (const GridRow& row : rows) columns = std::max(columns, row.cells.size());
  const int cell = side * kScale;
  const int width = kLabelWidth + static_cast<int>(columns) * (cell + kBorder) + kBorder;
  const int height = static_cast<int>(rows.size()) * (cell + kBorder) + kBorder;
  cv::Mat canvas(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int top = kBorder + static_cast<int>(r) * (cell + kBorder);
    cv::putText(canvas, rows[r].label, cv::Point(4, top + cell / 2 + 4), cv::FONT_HERSHEY_SIMPLEX,
                0.4, cv::Scalar(0, 0, 0), 1, cv::LINE_AA);
    for (size_t c = 0; c < rows[r].cells.size(); ++c) {
      if (!rows[r].cells[c].defined()) continue;
      const int left = kLabelWidth + kBorder + static_cast<int>(c) * (cell + kBorder);
      ToCell(rows[r].cells[c]).copyTo(canvas(cv::Rect(left, top, cell, cell)));
    }
  }
  if (!cv::imwrite(path, canvas))
    return absl::InternalError(absl::StrCat(path, ": cannot write PNG"));
  return absl::OkStatus();
}

std::vector<int64_t> Members(const Dataset& dataset, int64_t c) {
  const torch::Tensor rows = (dataset.labels == c).nonzero().squeeze(1);
  return std::vector<int64_t>(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
}

// Regular classes by image count (descending), UR classes in label order.
void ClassesByRole(const Dataset& dataset, const torch::Tensor& regular,
                   std::vector<int64_t>* regular_classes, std::vector<int64_t>* ur_classes) {
  const torch::Tensor counts = dataset.ClassCounts();
  for (int64_t c = 0; c < dataset.num_classes(); ++c) {
    if (counts[c].item<int64_t>() == 0) continue;
    (regular[c].item<bool>() ? regular_classes : ur_classes)->push_back(c);
  }
  std::stable_sort(regular_classes->begin(), regular_classes->end(), [&](int64_t a, int64_t b) {
    return counts[a].item<int64_t>() > counts[b].item<int64_t>();
  });
}

absl::Status NeedStatistics(const FtlStatistics& stats) {
  if (!stats.valid)
    return absl::FailedPreconditionError("pictures need UpdateStats' centres and Q");
  return absl::OkStatus();
}

}  // namespace

std::vector<CenterErrorRow> CenterEstimationError(FtlModel& model, const Dataset& dataset,
                                                  const torch::Tensor& regular,
                                                  const std::vector<int>& sizes, int draws,
                                                  uint64_t seed) {
  model->eval();
  std::mt19937_64 rng(seed);
  // errors[method][size] over (class, draw); classes[size] = classes with more images than size
  std::vector<std::vector<std::vector<double>>> errors(
      3, std::vector<std::vector<double>>(sizes.size()));
  std::vector<int> classes(sizes.size(), 0);
  for (int64_t c = 0; c < dataset.num_classes(); ++c) {
    if (!regular[c].item<bool>()) continue;
    std::vector<int64_t> members = Members(dataset, c);
    const int n = static_cast<int>(members.size());
    if (n < 2) continue;
    const torch::Tensor x = ImageBatch(dataset, torch::tensor(members, torch::kInt64));
    const torch::Tensor g = Encode(model, x).to(torch::kFloat64);
    const torch::Tensor g_flip = Encode(model, torch::flip(x, {3})).to(torch::kFloat64);
    const torch::Tensor reference = (g.mean(0) + g_flip.mean(0)) / 2;
    auto error = [&](const torch::Tensor& estimate) {
      return 1.0 - torch::cosine_similarity(estimate, reference, 0).item<double>();
    };
    std::vector<int64_t> order(members.size());
    std::iota(order.begin(), order.end(), 0);
    for (size_t s = 0; s < sizes.size(); ++s) classes[s] += sizes[s] < n ? 1 : 0;
    for (int d = 0; d < draws; ++d) {
      std::shuffle(order.begin(), order.end(), rng);
      for (size_t s = 0; s < sizes.size(); ++s) {
        if (sizes[s] >= n) continue;  // the estimate would see every image of the class
        const torch::Tensor pick =
            torch::tensor(std::vector<int64_t>(order.begin(), order.begin() + sizes[s]));
        errors[0][s].push_back(error(g[order[0]]));
        errors[1][s].push_back(error(g.index_select(0, pick).mean(0)));
        errors[2][s].push_back(
            error((g.index_select(0, pick).mean(0) + g_flip.index_select(0, pick).mean(0)) / 2));
      }
    }
  }
  model->train();
  std::vector<CenterErrorRow> rows;
  const char* names[3] = {"pick_one", "avg_all", "avg_flip"};
  for (int m = 0; m < 3; ++m) {
    for (size_t s = 0; s < sizes.size(); ++s) {
      const std::vector<double>& e = errors[m][s];
      if (e.empty()) continue;
      double mean = 0, sq = 0;
      for (double v : e) mean += v;
      mean /= e.size();
      for (double v : e) sq += (v - mean) * (v - mean);
      rows.push_back({names[m], sizes[s], mean, std::sqrt(sq / e.size()), classes[s]});
    }
  }
  return rows;
}

absl::Status WriteCenterErrorCsv(const std::string& path, const std::vector<CenterErrorRow>& rows) {
  std::ofstream out(path, std::ios::trunc);
  out << "method,images,mean_error,std_error,classes\n";
  for (const CenterErrorRow& r : rows) {
    out << r.method << "," << r.images << "," << r.mean_error << "," << r.std_error << ","
        << r.classes << "\n";
  }
  out.flush();
  if (!out) return absl::InternalError(absl::StrCat(path, ": cannot write"));
  return absl::OkStatus();
}

absl::Status WriteCenterPicture(FtlModel& model, const Dataset& dataset, const FtlStatistics& stats,
                                const torch::Tensor& regular, const std::string& path,
                                int classes) {
  if (absl::Status s = NeedStatistics(stats); !s.ok()) return s;
  model->eval();
  std::vector<int64_t> reg, ur, shown;
  ClassesByRole(dataset, regular, &reg, &ur);
  // Half regular, the rest UR; whichever group runs short leaves its places to the other.
  const size_t want = static_cast<size_t>(classes);
  const size_t take_ur = std::min(ur.size(), want - std::min(reg.size(), want / 2));
  const size_t take_reg = std::min(reg.size(), want - take_ur);
  shown.assign(reg.begin(), reg.begin() + take_reg);
  shown.insert(shown.end(), ur.begin(), ur.begin() + take_ur);
  GridRow images{"image"}, centers{"Dec(c_i)"};
  const torch::Tensor decoded =
      Decode(model, stats.centers.cpu().index_select(0, torch::tensor(shown)));
  for (size_t k = 0; k < shown.size(); ++k) {
    images.cells.push_back(
        ImageBatch(dataset, torch::tensor({Members(dataset, shown[k]).front()}))[0]);
    centers.cells.push_back(decoded[k]);
  }
  model->train();
  return WriteGrid({images, centers}, static_cast<int>(dataset.image_size()), path);
}

absl::Status WriteTransferPicture(FtlModel& model, const Dataset& dataset,
                                  const FtlStatistics& stats, const torch::Tensor& regular,
                                  const std::string& path, int samples, int ur_rows) {
  if (absl::Status s = NeedStatistics(stats); !s.ok()) return s;
  std::vector<int64_t> reg, ur;
  ClassesByRole(dataset, regular, &reg, &ur);
  if (reg.empty()) return absl::FailedPreconditionError("transfer picture: no regular class");
  if (ur.empty())
    ur = std::vector<int64_t>(reg.begin() + 1, reg.end());  // still shows the transfer
  model->eval();
  const int64_t j = reg.front();
  std::vector<int64_t> members = Members(dataset, j);
  members.resize(std::min<size_t>(members.size(), samples));
  const torch::Tensor x = ImageBatch(dataset, torch::tensor(members));
  const torch::Tensor g = Encode(model, x);
  const torch::Tensor q = stats.basis.cpu(), centers = stats.centers.cpu();
  const torch::Tensor variation = (g - centers[j]).matmul(q).matmul(q.t());  // Q Q^T (g_jk - c_j)
  GridRow inputs{"regular x_j"}, recon{"Dec(c_j), Dec(g_j)"};
  inputs.cells.push_back(torch::Tensor());
  recon.cells.push_back(Decode(model, centers[j].unsqueeze(0))[0]);
  const torch::Tensor decoded = Decode(model, g);
  for (int64_t k = 0; k < x.size(0); ++k) {
    inputs.cells.push_back(x[k]);
    recon.cells.push_back(decoded[k]);
  }
  std::vector<GridRow> rows = {inputs, recon};
  for (size_t r = 0; r < ur.size() && static_cast<int>(r) < ur_rows; ++r) {
    const int64_t i = ur[r];
    GridRow row{absl::StrCat(regular[i].item<bool>() ? "class " : "UR ", dataset.class_names[i])
                    .substr(0, 18)};
    row.cells.push_back(Decode(model, centers[i].unsqueeze(0))[0]);
    const torch::Tensor transferred = Decode(model, centers[i].unsqueeze(0) + variation);
    for (int64_t k = 0; k < transferred.size(0); ++k) row.cells.push_back(transferred[k]);
    rows.push_back(row);
  }
  model->train();
  return WriteGrid(rows, static_cast<int>(dataset.image_size()), path);
}

absl::Status WriteInterpolationPicture(FtlModel& model, const Dataset& dataset,
                                       const FtlStatistics& stats, const torch::Tensor& regular,
                                       const std::string& path, int steps) {
  if (absl::Status s = NeedStatistics(stats); !s.ok()) return s;
  std::vector<int64_t> reg, ur;
  ClassesByRole(dataset, regular, &reg, &ur);
  std::vector<int64_t> all = reg;
  all.insert(all.end(), ur.begin(), ur.end());
  if (all.size() < 2)
    return absl::FailedPreconditionError("interpolation picture: needs two classes");
  model->eval();
  const int64_t c1 = all[0], c2 = ur.empty() ? all[1] : ur.front();
  const torch::Tensor x = ImageBatch(
      dataset, torch::tensor({Members(dataset, c1).front(), Members(dataset, c2).front()}));
  const torch::Tensor g = Encode(model, x);
  const torch::Tensor q = stats.basis.cpu();
  const torch::Tensor center1 = stats.centers[c1].cpu(), center2 = stats.centers[c2].cpu();
  std::vector<torch::Tensor> plain, non_identity, identity;
  for (int s = 0; s < steps; ++s) {
    const double a = steps == 1 ? 0.0 : static_cast<double>(s) / (steps - 1);
    plain.push_back(g[0] + a * (g[1] - g[0]));
    non_identity.push_back(center1 + a * (g[1] - center2).matmul(q).matmul(q.t()));
    identity.push_back(g[0] + a * (center2 - center1));
  }
  auto row = [&](const std::string& label, const std::vector<torch::Tensor>& features) {
    GridRow r{label};
    r.cells.push_back(x[0]);
    const torch::Tensor decoded = Decode(model, torch::stack(features));
    for (int64_t k = 0; k < decoded.size(0); ++k) r.cells.push_back(decoded[k]);
    r.cells.push_back(x[1]);
    return r;
  };
  std::vector<GridRow> rows = {row("plain", plain), row("non-identity", non_identity),
                               row("identity", identity)};
  model->train();
  return WriteGrid(rows, static_cast<int>(dataset.image_size()), path);
}

}  // namespace ftl
