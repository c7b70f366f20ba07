// Reads batches ahead of use on background threads, so that reading and decoding (streaming) or
// the pinned copy (GPU) of the next batches overlaps the step that trains on the current one.
#ifndef FTL_COMMON_DATA_BATCH_PREFETCHER_H_
#define FTL_COMMON_DATA_BATCH_PREFETCHER_H_

#include <torch/torch.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/data/dataset.h"

namespace ftl {

class BatchPrefetcher {
 public:
  struct Batch {
    torch::Tensor rows;    // [B] int64
    torch::Tensor images;  // [B, C, S, S] uint8 (pinned when asked)
  };

  // Batches k = 0 .. count-1 of `dataset` (which must outlive this). rows_of(k) gives batch k's
  // rows; it is called only on the thread that calls Next, in order, since samplers are not
  // thread-safe. With threads = 0 a batch is read inside Next; otherwise up to `depth` batches
  // are read ahead on `threads` threads.
  BatchPrefetcher(const Dataset& dataset, std::function<torch::Tensor(int64_t)> rows_of,
                  int64_t count, int threads, int depth, bool pin_memory = false);
  // Waits for reads in flight; batches not taken are dropped.
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;

  // The next batch, in order. Throws DataReadError (image_stream.h) when its images cannot be
  // read, and std::out_of_range past `count`.
  Batch Next();

 private:
  struct Slot {
    torch::Tensor rows;
    bool done = false;
    absl::StatusOr<torch::Tensor> images;
  };
  absl::StatusOr<torch::Tensor> Read(const torch::Tensor& rows) const;
  void QueueAhead();
  void WorkerLoop();

  const Dataset& dataset_;
  const std::function<torch::Tensor(int64_t)> rows_of_;
  const int64_t count_;
  const int depth_;
  const bool pin_memory_;
  int64_t next_to_queue_ = 0;
  int64_t next_to_take_ = 0;

  absl::Mutex mutex_;          // between the taking thread and the reader threads
  absl::CondVar work_ready_;   // pending_ grew, or stopping
  absl::CondVar batch_ready_;  // a slot is done
  std::deque<int64_t> pending_ ABSL_GUARDED_BY(mutex_);
  std::map<int64_t, Slot> slots_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace ftl

#endif  // FTL_COMMON_DATA_BATCH_PREFETCHER_H_
