// Starting and stopping a job's workers. The coordinator only decides *when*; a launcher knows
// *how* (local mpirun, or nothing for workers started elsewhere that attach by job id).
#ifndef FTL_SERVICES_COORDINATOR_LAUNCHER_H_
#define FTL_SERVICES_COORDINATOR_LAUNCHER_H_

#include <memory>
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

// `mpirun -np N worker --coordinator ADDR --job ID` in its own process group (session).
std::unique_ptr<Launcher> CreateLocalLauncher(std::string mpirun, std::string worker_binary);

// `sbatch` of the worker template (deploy/slurm/ftl_workers.sbatch) with the job's coordinator
// address, id and worker binary in the environment; `scancel` on stop.
std::unique_ptr<Launcher> CreateSlurmLauncher(std::string sbatch_template,
                                              std::string worker_binary,
                                              std::vector<std::string> extra_sbatch_args);

// Workers are started elsewhere (Kubernetes, by hand) and attach by job id.
std::unique_ptr<Launcher> CreateExternalLauncher();

}  // namespace ftl

#endif  // FTL_SERVICES_COORDINATOR_LAUNCHER_H_
