// A watchdog over a Communicator, like PyTorch's ProcessGroupNCCL watchdog: every collective is
// timed, and one that has not returned within the timeout (a peer rank stopped, hung, or gone
// without its process dying) ends this process with a message naming the operation, this rank and
// the wait. mpirun then ends the job's other ranks, and a coordinator relaunches the job from its
// last checkpoint. Without it a stopped rank hangs the job for ever.
#ifndef FTL_COMMON_COMM_WATCHDOG_COMMUNICATOR_H_
#define FTL_COMMON_COMM_WATCHDOG_COMMUNICATOR_H_

#include <functional>
#include <memory>
#include <string>

#include "common/comm/communicator.h"

namespace ftl {

// The worker's exit code when a collective timed out.
inline constexpr int kCollectiveTimeoutExitCode = 4;

// Called on the watchdog's thread with the message when a collective has waited too long. The
// default logs it and ends the process with kCollectiveTimeoutExitCode.
using CollectiveTimeoutAction = std::function<void(const std::string& message)>;

// Wraps `inner` (which it owns). Collectives started before Arm() are not timed (a rank listing a
// large data set while the others wait in the broadcast). timeout_seconds <= 0 disables the
// watchdog. The watchdog checks once per `poll_seconds`.
std::unique_ptr<Communicator> WithCollectiveWatchdog(std::unique_ptr<Communicator> inner,
                                                     double timeout_seconds,
                                                     CollectiveTimeoutAction on_timeout = nullptr,
                                                     double poll_seconds = 1.0);

// Starts timing collectives of a communicator made by WithCollectiveWatchdog (no-op otherwise).
void ArmCollectiveWatchdog(Communicator& comm);

}  // namespace ftl

#endif  // FTL_COMMON_COMM_WATCHDOG_COMMUNICATOR_H_
