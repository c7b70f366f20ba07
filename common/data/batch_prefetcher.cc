#include "common/data/batch_prefetcher.h"

#include <stdexcept>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/data/image_stream.h"

namespace ftl {

BatchPrefetcher::BatchPrefetcher(const Dataset& dataset,
                                 std::function<torch::Tensor(int64_t)> rows_of, int64_t count,
                                 int threads, int depth, bool pin_memory)
    : dataset_(dataset),
      rows_of_(std::move(rows_of)),
      count_(count),
      depth_(std::max(1, depth)),
      pin_memory_(pin_memory) {
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  if (!workers_.empty()) QueueAhead();
}

BatchPrefetcher::~BatchPrefetcher() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    pending_.clear();
    work_ready_.SignalAll();
  }
  for (std::thread& worker : workers_) worker.join();
}

absl::StatusOr<torch::Tensor> BatchPrefetcher::Read(const torch::Tensor& rows) const {
  try {
    absl::StatusOr<torch::Tensor> images = GatherImages(dataset_, rows);
    if (images.ok() && pin_memory_) *images = images->pin_memory();
    return images;
  } catch (const std::exception& e) {  // LibTorch reports with exceptions
    return absl::InternalError(absl::StrCat("reading a batch: ", e.what()));
  }
}

void BatchPrefetcher::QueueAhead() {
  while (next_to_queue_ < count_ && next_to_queue_ < next_to_take_ + depth_) {
    torch::Tensor rows = rows_of_(next_to_queue_);
    {
      absl::MutexLock lock(&mutex_);
      slots_[next_to_queue_].rows = std::move(rows);
      pending_.push_back(next_to_queue_);
      work_ready_.Signal();
    }
    ++next_to_queue_;
  }
}

void BatchPrefetcher::WorkerLoop() {
  for (;;) {
    int64_t k = 0;
    torch::Tensor rows;
    {
      absl::MutexLock lock(&mutex_);
      while (!stopping_ && pending_.empty()) work_ready_.Wait(&mutex_);
      if (stopping_) return;
      k = pending_.front();
      pending_.pop_front();
      rows = slots_[k].rows;
    }
    absl::StatusOr<torch::Tensor> images = Read(rows);  // unlocked: the slow part
    absl::MutexLock lock(&mutex_);
    Slot& slot = slots_[k];
    slot.images = std::move(images);
    slot.done = true;
    batch_ready_.SignalAll();
  }
}

BatchPrefetcher::Batch BatchPrefetcher::Next() {
  if (next_to_take_ >= count_) {
    throw std::out_of_range(absl::StrCat("BatchPrefetcher: all ", count_, " batches were taken"));
  }
  Batch batch;
  absl::StatusOr<torch::Tensor> images;
  if (workers_.empty()) {
    batch.rows = rows_of_(next_to_take_);
    images = Read(batch.rows);
  } else {
    QueueAhead();
    absl::MutexLock lock(&mutex_);
    while (!slots_[next_to_take_].done) batch_ready_.Wait(&mutex_);
    auto it = slots_.find(next_to_take_);
    batch.rows = std::move(it->second.rows);
    images = std::move(it->second.images);
    slots_.erase(it);
  }
  ++next_to_take_;
  if (!workers_.empty()) QueueAhead();  // keep `depth` reads in flight while the caller trains
  if (!images.ok()) throw DataReadError(std::string(images.status().message()));
  batch.images = std::move(*images);
  return batch;
}

}  // namespace ftl
