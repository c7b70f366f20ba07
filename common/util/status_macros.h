// Early-return helpers for absl::Status / absl::StatusOr.
#ifndef FTL_COMMON_UTIL_STATUS_MACROS_H_
#define FTL_COMMON_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FTL_STATUS_CONCAT_INNER(a, b) a##b
#define FTL_STATUS_CONCAT(a, b) FTL_STATUS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define FTL_RETURN_IF_ERROR(expr)              \
  do {                                         \
    const absl::Status _ftl_status = (expr);   \
    if (!_ftl_status.ok()) return _ftl_status; \
  } while (0)

// `FTL_ASSIGN_OR_RETURN(auto x, MakeX());` binds the value or returns the error.
#define FTL_ASSIGN_OR_RETURN(lhs, expr) \
  FTL_ASSIGN_OR_RETURN_IMPL(FTL_STATUS_CONCAT(_ftl_statusor_, __LINE__), lhs, expr)
#define FTL_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(*tmp)

#endif  // FTL_COMMON_UTIL_STATUS_MACROS_H_
