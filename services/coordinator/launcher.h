// Starting and stopping a job's workers. The coordinator only decides *when*; a launcher knows
// *how* (local mpirun, or nothing for workers started elsewhere that attach by job id).
#ifndef FTL_SERVICES_COORDINATOR_LAUNCHER_H_
#define FTL_SERVICES_COORDINATOR_LAUNCHER_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/security/credentials.h"

namespace ftl {

struct LaunchRequest {
  std::string job_id;
  std::string job_dir;  // working folder; the launcher logs to job_dir/worker.log
  int ranks = 1;
  std::string coordinator;      // address the workers attach to
  std::string credential_file;  // the launch's worker credential (0600); empty: none
  ClientTls tls;                // files the workers dial with (empty ca: plaintext)
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Starts the workers; returns a handle to store with the job (e.g. the process group id).
  virtual absl::StatusOr<std::string> Launch(const LaunchRequest& request) = 0;
  // Stops every process of the launch, also one made by an earlier coordinator process.
  virtual void Stop(const std::string& job_id, const std::string& handle) = 0;
  // False once the launched workers have exited (unknown handles count as running).
  virtual bool Running(const std::string& handle) = 0;
};

// An unprivileged user the local launcher starts workers as (coordinator flag --worker_user).
struct WorkerUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The user called `name`. FailedPrecondition unless this process is root (only root can start
// processes as another user) and setpriv(1) (util-linux) is on PATH; InvalidArgument for an
// unknown user or root itself.
absl::StatusOr<WorkerUser> LookUpWorkerUser(const std::string& name);

// `mpirun -np N worker --coordinator ADDR --job ID` in its own process group (session). With
// `user`, as that user (setpriv: its uid, gid and groups, no capabilities), after handing it the
// job folder (chown, links not followed): workers then cannot read what only the coordinator's
// user can (the store, its TLS key, the tokens, other users' files).
std::unique_ptr<Launcher> CreateLocalLauncher(std::string mpirun, std::string worker_binary,
                                              std::optional<WorkerUser> user = std::nullopt);

// `sbatch` of the worker template (deploy/slurm/ftl_workers.sbatch) with the job's coordinator
// address, id and worker binary in the environment; `scancel` on stop.
std::unique_ptr<Launcher> CreateSlurmLauncher(std::string sbatch_template,
                                              std::string worker_binary,
                                              std::vector<std::string> extra_sbatch_args);

// Workers are started elsewhere (Kubernetes, by hand) and attach by job id.
std::unique_ptr<Launcher> CreateExternalLauncher();

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_LAUNCHER_H_
