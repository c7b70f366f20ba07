// --help for our binaries. absl's own --help prints every flag linked in (gRPC's and LibTorch's
// dependencies' too) and exits 1, the code our binaries use for "the job failed"; these print a
// binary's (or one command's) own flags and let the caller exit 0.
#ifndef FTL_COMMON_UTIL_FLAG_HELP_H_
#define FTL_COMMON_UTIL_FLAG_HELP_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ftl {

// Whether the command line asks for help: --help, -h, -help, --helpfull, --helpshort, --help=X.
// Arguments after a bare "--" do not count.
bool HelpRequested(int argc, char** argv);

// "  --name=DEFAULT\n      help text\n" for each named flag, in the order given; a name no flag
// has is listed as "(not a flag of this build)" so that a stale list shows in the output.
std::string DescribeFlags(const std::vector<std::string>& names);

// The names of the flags defined in source files whose path contains `file_part`, sorted.
std::vector<std::string> FlagsDefinedIn(absl::string_view file_part);

}  // namespace ftl

#endif  // FTL_COMMON_UTIL_FLAG_HELP_H_
