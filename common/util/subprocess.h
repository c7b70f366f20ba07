// Runs a program from an argument vector (fork + execvp, never a shell), so that paths with
// quotes, `$(...)` or spaces reach it as they are.
#ifndef FTL_COMMON_UTIL_SUBPROCESS_H_
#define FTL_COMMON_UTIL_SUBPROCESS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ftl {

// Runs argv[0] (looked up on PATH when it has no '/') with `argv`, stdout and stderr merged, and
// calls `on_line` with each line it prints (newline included) as it comes. Blocks until the
// program exits. OK when it exits 0; Internal naming the program and the exit status or signal
// otherwise; NotFound when it cannot be started. Thread-safe (each call has its own pipe).
absl::Status RunProcess(const std::vector<std::string>& argv,
                        const std::function<void(const std::string&)>& on_line);

// argv as one line for logs, each argument in single quotes when it needs any (display only).
std::string DescribeCommand(const std::vector<std::string>& argv);

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_SUBPROCESS_H_
