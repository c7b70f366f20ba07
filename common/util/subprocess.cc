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

absl::Status RunProcess(const std::vector<std::string>& argv,
                        const std::function<void(const std::string&)>& on_line) {
  if (argv.empty()) return absl::InvalidArgumentError("RunProcess: empty argv");
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("RunProcess: pipe failed");
  // A pipe to report an exec failure (closed on a successful exec).
  int exec_fds[2];
  if (pipe2(exec_fds, O_CLOEXEC) != 0) {
    close(fds[0]);
    close(fds[1]);
    return absl::InternalError("RunProcess: pipe failed");
  }
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (std::string& a : args) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {fds[0], fds[1], exec_fds[0], exec_fds[1]}) close(fd);
    return absl::InternalError("RunProcess: fork failed");
  }
  if (pid == 0) {
    // No terminal input for the child (several may run at once), and none of the parent's other
    // descriptors (log files other threads opened without close-on-exec).
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    const long max_fd = std::min(sysconf(_SC_OPEN_MAX), 65536L);
    for (int fd = 3; fd < max_fd; ++fd) {
      if (fd != exec_fds[1]) close(fd);
    }
    execvp(c_argv[0], c_argv.data());
    const int error = errno;
    (void)!write(exec_fds[1], &error, sizeof(error));
    _exit(127);
  }
  close(fds[1]);
  close(exec_fds[1]);
  int exec_error = 0;
  const bool exec_failed = read(exec_fds[0], &exec_error, sizeof(exec_error)) == sizeof(exec_error);
  close(exec_fds[0]);
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
  if (exec_failed) {
    return absl::NotFoundError(absl::StrCat("cannot run '", argv[0], "': ", std::strerror(exec_error)));
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
    const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
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
