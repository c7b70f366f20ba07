#include "common/classifier/class_partition.h"

#include <algorithm>

#include "c10/util/Exception.h"

namespace ftl {

ClassRange ClassRangeOf(int64_t num_classes, int rank, int ranks) {
  TORCH_CHECK(ranks > 0 && rank >= 0 && rank < ranks && num_classes >= ranks, "ClassRangeOf: rank ",
              rank, " of ", ranks, " with ", num_classes, " classes");
  const int64_t base = num_classes / ranks;
  const int64_t extra = num_classes % ranks;
  ClassRange range;
  range.count = base + (rank < extra ? 1 : 0);
  range.start = rank * base + std::min<int64_t>(rank, extra);
  return range;
}

}  // namespace ftl
