// Runs a program from an argument vector (fork + execvp, never a shell), so that paths with
// quotes, `$(...)` or spaces reach it as they are. Every child process of the project starts
// here: the experiment's workers and plots (RunProcess) and the coordinator's local launches
// (StartProcess).
#ifndef FTL_COMMON_UTIL_SUBPROCESS_H_
#define FTL_COMMON_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ftl {

// Runs argv[0] (looked up on PATH when it has no '/') with `argv`, stdout and stderr merged, and
// calls `on_line` with each line it prints (newline included) as it comes. Blocks until the
// program exits. OK when it exits 0; Internal naming the program and the exit status or signal
// otherwise; NotFound when it cannot be started. Thread-safe (each call has its own pipe).
absl::Status RunProcess(const std::vector<std::string>& argv,
                        const std::function<void(const std::string&)>& on_line);

struct StartOptions {
  std::string output_path;   // stdout and stderr appended here ("" = /dev/null)
  std::string working_dir;   // "" = this process's
  bool new_session = false;  // its own session and process group (kill(-pid) stops the tree)
};

// Starts argv[0] (PATH lookup as RunProcess) and returns its pid without waiting; the caller
// reaps it. NotFound when it cannot be started (no such program, or the output file or working
// folder cannot be opened), with the reason.
absl::StatusOr<pid_t> StartProcess(const std::vector<std::string>& argv,
                                   const StartOptions& options);

// argv as one line for logs, each argument in single quotes when it needs any (display only).
std::string DescribeCommand(const std::vector<std::string>& argv);

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_SUBPROCESS_H_
