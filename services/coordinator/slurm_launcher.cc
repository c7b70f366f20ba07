// The Slurm launcher: sbatch the worker template (deploy/slurm/ftl_workers.sbatch), scancel on
// stop.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/util/log.h"
#include "services/coordinator/launcher.h"

namespace ftl {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr
};

// Runs argv[0] with arguments (no shell), capturing its output.
CommandResult Run(const std::vector<std::string>& args) {
  CommandResult result;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return result;
  const pid_t pid = fork();
  if (pid < 0) return result;
  if (pid == 0) {
    dup2(pipe_fds[1], 1);
    dup2(pipe_fds[1], 2);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  std::array<char, 4096> buffer;
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer.data(), buffer.size())) > 0)
    result.output.append(buffer.data(), n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class SlurmLauncher : public Launcher {
 public:
  SlurmLauncher(std::string template_path, std::string worker, std::vector<std::string> extra)
      : template_(std::move(template_path)), worker_(std::move(worker)), extra_(std::move(extra)) {}

  absl::StatusOr<std::string> Launch(const LaunchRequest& r) override {
    std::string exports = absl::StrCat("ALL,FTL_COORDINATOR=", r.coordinator,
                                       ",FTL_JOB_ID=", r.job_id, ",FTL_WORKER=", worker_);
    if (!r.credential_file.empty())
      absl::StrAppend(&exports, ",FTL_TOKEN_FILE=", r.credential_file);
    // ftl_worker reads these when its --tls_* flags are not given (services/security).
    for (const auto& [name, value] :
         {std::pair<const char*, const std::string&>{"FTL_TLS_CA", r.tls.ca},
          {"FTL_TLS_CERT", r.tls.cert},
          {"FTL_TLS_KEY", r.tls.key},
          {"FTL_TLS_SERVER_NAME", r.tls.server_name}}) {
      if (!value.empty()) absl::StrAppend(&exports, ",", name, "=", value);
    }
    std::vector<std::string> args = {"sbatch",
                                     "--parsable",
                                     "--job-name=ftl-" + r.job_id,
                                     absl::StrCat("--ntasks=", r.ranks),
                                     "--chdir=" + r.job_dir,
                                     "--output=" + r.job_dir + "/worker.log",
                                     "--export=" + exports};
    args.insert(args.end(), extra_.begin(), extra_.end());
    args.push_back(template_);
    const CommandResult result = Run(args);
    const std::string output(absl::StripAsciiWhitespace(result.output));
    if (result.exit_code != 0) {
      return absl::UnavailableError(
          absl::StrCat("sbatch failed (", result.exit_code, "): ", output));
    }
    // --parsable prints "jobid" or "jobid;cluster".
    const std::string id = output.substr(0, output.find(';'));
    Log("job ", r.job_id, ": Slurm job ", id);
    return id;
  }

  void Stop(const std::string&, const std::string& handle) override {
    if (handle.empty()) return;
    const CommandResult result = Run({"scancel", handle});
    if (result.exit_code != 0) Log("scancel ", handle, ": ", result.output);
  }

  bool Running(const std::string& handle) override {
    const CommandResult result = Run({"squeue", "-h", "-j", handle, "-o", "%T"});
    if (result.exit_code != 0) return false;  // unknown to Slurm: gone
    const std::string state(absl::StripAsciiWhitespace(result.output));
    return !state.empty() && state != "COMPLETED" && state != "FAILED" && state != "CANCELLED" &&
           state != "TIMEOUT" && state != "NODE_FAIL" && state != "OUT_OF_MEMORY";
  }

 private:
  std::string template_, worker_;
  std::vector<std::string> extra_;
};

}  // namespace

std::unique_ptr<Launcher> CreateSlurmLauncher(std::string sbatch_template,
                                              std::string worker_binary,
                                              std::vector<std::string> extra_sbatch_args) {
  return std::make_unique<SlurmLauncher>(std::move(sbatch_template), std::move(worker_binary),
                                         std::move(extra_sbatch_args));
}

}  // namespace ftl
