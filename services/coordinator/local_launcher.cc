#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/util/log.h"
#include "common/util/subprocess.h"
#include "services/coordinator/launcher.h"

namespace ftl {
namespace {

// True if process `pid` is alive and its command line mentions `job_id` (guards against a
// recycled pid from an earlier coordinator's launch).
bool IsOurLaunch(pid_t pid, const std::string& job_id) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/cmdline"), std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), {});
  return !cmdline.empty() && cmdline.find(job_id) != std::string::npos;
}

bool FindOnPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path ? path : "/usr/bin:/bin", ':')) {
    if (access(absl::StrCat(dir, "/", program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Gives `dir` and everything in it to `user` (lchown: a link inside is changed, not its target).
absl::Status HandOver(const std::string& dir, const WorkerUser& user) {
  namespace fs = std::filesystem;
  auto give = [&](const fs::path& path) -> absl::Status {
    if (lchown(path.c_str(), user.uid, user.gid) != 0) {
      return absl::InternalError(absl::StrCat("cannot hand '", path.string(), "' to user ",
                                              user.name, ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  };
  if (absl::Status s = give(dir); !s.ok()) return s;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    if (absl::Status s = give(it->path()); !s.ok()) return s;
  }
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot hand '", dir, "' to user ", user.name, ": ", ec.message()));
  }
  return absl::OkStatus();
}

class LocalLauncher : public Launcher {
 public:
  LocalLauncher(std::string mpirun, std::string worker, std::optional<WorkerUser> user)
      : mpirun_(std::move(mpirun)),
        worker_(std::move(worker)),
        user_(std::move(user)),
        reaper_([this] { ReapLoop(); }) {}
  ~LocalLauncher() override {
    {
      absl::MutexLock lock(&mutex_);
      stopping_ = true;
    }
    reaper_.join();
  }

  absl::StatusOr<std::string> Launch(const LaunchRequest& r) override {
    std::vector<std::string> args;
    if (user_) {
      if (absl::Status s = HandOver(r.job_dir, *user_); !s.ok()) return s;
      args = {"setpriv",
              absl::StrCat("--reuid=", user_->uid),
              absl::StrCat("--regid=", user_->gid),
              "--init-groups",
              "--inh-caps=-all",
              "--"};
    }
    args.insert(args.end(), {mpirun_, "--oversubscribe", "-np", std::to_string(r.ranks)});
    if (!user_ && geteuid() == 0) args.push_back("--allow-run-as-root");
    args.insert(args.end(), {worker_, "--coordinator", r.coordinator, "--job", r.job_id});
    if (!r.credential_file.empty()) args.insert(args.end(), {"--token_file", r.credential_file});
    for (const auto& [flag, value] :
         {std::pair<const char*, const std::string&>{"--tls_ca", r.tls.ca},
          {"--tls_cert", r.tls.cert},
          {"--tls_key", r.tls.key},
          {"--tls_server_name", r.tls.server_name}}) {
      if (!value.empty()) args.insert(args.end(), {flag, value});
    }
    StartOptions start;
    start.output_path = r.job_dir + "/worker.log";
    start.working_dir = r.job_dir;
    start.new_session = true;  // its own process group: Stop kills the whole tree
    absl::StatusOr<pid_t> started = StartProcess(args, start);
    if (!started.ok()) return started.status();
    const pid_t pid = *started;
    absl::MutexLock lock(&mutex_);
    children_[pid] = true;
    return std::to_string(pid);
  }

  void Stop(const std::string& job_id, const std::string& handle) override {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(handle, &pid) || pid <= 1) return;
    bool mine;
    {
      absl::MutexLock lock(&mutex_);
      auto it = children_.find(pid);
      mine = it != children_.end();
      if (mine && !it->second) {  // exited and reaped: nothing left to stop (its pid may be reused)
        children_.erase(it);
        return;
      }
    }
    if (!mine && !IsOurLaunch(pid, job_id)) return;
    kill(-pid, SIGTERM);
    for (int i = 0; i < 50 && Alive(pid, mine); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    kill(-pid, SIGKILL);  // whatever is left of the group, ranks included
    if (mine) {
      waitpid(pid, nullptr, 0);
      absl::MutexLock lock(&mutex_);
      children_.erase(pid);
    }
  }

  bool Running(const std::string& handle) override {
    pid_t pid = 0;
    if (!absl::SimpleAtoi(handle, &pid)) return true;
    absl::MutexLock lock(&mutex_);
    auto it = children_.find(pid);
    if (it == children_.end()) return true;  // not launched by this coordinator: assume so
    if (it->second && waitpid(pid, nullptr, WNOHANG) == pid) it->second = false;
    return it->second;
  }

 private:
  // Reaps launches that exit on their own (a finished job's mpirun): no zombies accumulate.
  void ReapLoop() {
    absl::MutexLock lock(&mutex_);
    while (!mutex_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(500))) {
      for (auto& [pid, running] : children_) {
        if (running && waitpid(pid, nullptr, WNOHANG) == pid) running = false;
      }
    }
  }

  bool Alive(pid_t pid, bool mine) {
    if (mine) return waitpid(pid, nullptr, WNOHANG) == 0;
    return kill(pid, 0) == 0;
  }

  std::string mpirun_, worker_;
  const std::optional<WorkerUser> user_;
  absl::Mutex mutex_;  // Launch, Stop and Running come from the scheduler and Stop threads
  std::map<pid_t, bool> children_ ABSL_GUARDED_BY(mutex_);  // our launches: still running?
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread reaper_;  // last: starts once the members above exist
};

class ExternalLauncher : public Launcher {
 public:
  absl::StatusOr<std::string> Launch(const LaunchRequest& r) override {
    Log("job ", r.job_id, ": waiting for external workers to attach (ftl_worker --coordinator ",
        r.coordinator, " --job ", r.job_id, ")");
    return std::string("external");
  }
  void Stop(const std::string&, const std::string&) override {}
  bool Running(const std::string&) override { return true; }
};

}  // namespace

absl::StatusOr<WorkerUser> LookUpWorkerUser(const std::string& name) {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "--worker_user: only a coordinator running as root can start workers as another user");
  }
  if (!FindOnPath("setpriv")) {
    return absl::FailedPreconditionError(
        "--worker_user: needs setpriv (Debian's util-linux) on PATH");
  }
  std::vector<char> buffer(16384);
  struct passwd entry {};
  struct passwd* found = nullptr;
  if (getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
      found == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("--worker_user: no user '", name, "'"));
  }
  if (found->pw_uid == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--worker_user: '", name, "' is root; name an unprivileged user"));
  }
  return WorkerUser{name, found->pw_uid, found->pw_gid};
}

std::unique_ptr<Launcher> CreateLocalLauncher(std::string mpirun, std::string worker_binary,
                                              std::optional<WorkerUser> user) {
  return std::make_unique<LocalLauncher>(std::move(mpirun), std::move(worker_binary),
                                         std::move(user));
}

std::unique_ptr<Launcher> CreateExternalLauncher() { return std::make_unique<ExternalLauncher>(); }

}  // namespace ftl
