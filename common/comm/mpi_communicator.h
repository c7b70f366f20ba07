// The Open MPI communicator, for CPU tensors.
#ifndef FTL_COMMON_COMM_MPI_COMMUNICATOR_H_
#define FTL_COMMON_COMM_MPI_COMMUNICATOR_H_

#include <memory>

#include "common/comm/communicator.h"

namespace ftl {

// Initialises MPI (once per process; MPI_Finalize runs when the returned object is destroyed).
// With a single rank and no mpirun, this still works (MPI singleton mode).
std::unique_ptr<Communicator> CreateMpiCommunicator(int* argc, char*** argv);

}  // namespace ftl

#endif  // FTL_COMMON_COMM_MPI_COMMUNICATOR_H_
