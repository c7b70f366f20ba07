#include "common/util/subprocess.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace ftl {

namespace {

// fork + exec of argv with stdin from /dev/null, stdout and stderr to `output_fd`, no other
// inherited descriptors, optionally a new session and another working folder. A failure in the
// child before exec (chdir, exec itself) comes back through a close-on-exec pipe as NotFound.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, int output_fd, bool new_session,
                            const std::string& working_dir) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  int exec_fds[2];
  if (pipe2(exec_fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (std::string& a : args) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    close(exec_fds[0]);
    close(exec_fds[1]);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    if (new_session) setsid();
    // No terminal input for the child (several may run at once), and none of the parent's other
    // descriptors (log files other threads opened without close-on-exec).
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) dup2(null_fd, 0);
    const int out = output_fd >= 0 ? output_fd : null_fd;
    dup2(out, 1);
    dup2(out, 2);
    const long max_fd = std::min(sysconf(_SC_OPEN_MAX), 65536L);
    for (int fd = 3; fd < max_fd; ++fd) {
      if (fd != exec_fds[1]) close(fd);
    }
    if (working_dir.empty() || chdir(working_dir.c_str()) == 0) execvp(c_argv[0], c_argv.data());
    const int error = errno;
    (void)!write(exec_fds[1], &error, sizeof(error));
    _exit(127);
  }
  close(exec_fds[1]);
  int exec_error = 0;
  const bool exec_failed = read(exec_fds[0], &exec_error, sizeof(exec_error)) == sizeof(exec_error);
  close(exec_fds[0]);
  if (exec_failed) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return absl::NotFoundError(
        absl::StrCat("cannot run '", argv[0], "'",
                     working_dir.empty() ? "" : absl::StrCat(" in '", working_dir, "'"), ": ",
                     std::strerror(exec_error)));
  }
  return pid;
}

}  // namespace

absl::StatusOr<pid_t> StartProcess(const std::vector<std::string>& argv,
                                   const StartOptions& options) {
  int out = -1;
  if (!options.output_path.empty()) {
    out = open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out < 0) {
      return absl::NotFoundError(
          absl::StrCat("cannot open '", options.output_path, "': ", std::strerror(errno)));
    }
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, out, options.new_session, options.working_dir);
  if (out >= 0) close(out);
  return pid;
}

absl::Status RunProcess(const std::vector<std::string>& argv,
                        const std::function<void(const std::string&)>& on_line) {
  if (argv.empty()) return absl::InvalidArgumentError("RunProcess: empty argv");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("RunProcess: pipe failed");
  absl::StatusOr<pid_t> started = Spawn(argv, fds[1], /*new_session=*/false, "");
  close(fds[1]);
  if (!started.ok()) {
    close(fds[0]);
    return started.status();
  }
  const pid_t pid = *started;
  FILE* out = fdopen(fds[0], "r");
  if (out == nullptr) close(fds[0]);  // the child then dies of SIGPIPE; its status says so
  std::string line;
  for (int c; out != nullptr && (c = std::fgetc(out)) != EOF;) {
    line.push_back(static_cast<char>(c));
    if (c == '\n') {
      if (on_line) on_line(line);
      line.clear();
    }
  }
  if (!line.empty() && on_line) on_line(line);
  if (out != nullptr) std::fclose(out);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return absl::OkStatus();
  if (WIFSIGNALED(status)) {
    return absl::InternalError(absl::StrCat(argv[0], " was killed by signal ", WTERMSIG(status)));
  }
  return absl::InternalError(absl::StrCat(argv[0], " exited with status ", WEXITSTATUS(status)));
}

std::string DescribeCommand(const std::vector<std::string>& argv) {
  std::string line;
  for (const std::string& a : argv) {
    if (!line.empty()) line.push_back(' ');
    const bool plain = !a.empty() && a.find_first_not_of(
                                         "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-./=,:@+") == std::string::npos;
    if (plain) {
      line += a;
      continue;
    }
    line.push_back('\'');
    for (char c : a) {
      if (c == '\'') {
        line += "'\\''";
      } else {
        line.push_back(c);
      }
    }
    line.push_back('\'');
  }
  return line;
}

}  // namespace ftl
