// The command line of ftl_tools: every flag is defined in command_flags.cc, the one file that
// reads them, and becomes a command's options struct (commands.h, experiment.h) here. A missing
// required flag or a malformed value is InvalidArgument with the command's usage line.
#ifndef FTL_SERVICES_CLI_COMMAND_FLAGS_H_
#define FTL_SERVICES_CLI_COMMAND_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/cli/commands.h"
#include "services/cli/experiment.h"

namespace ftl {

// One local command: its name, its synopsis for `ftl --help`, and the flags it reads.
struct ToolCommand {
  const char* name;
  const char* synopsis;  // lines "  ftl NAME ..." and indented description lines
  std::vector<std::string> flags;
};
// The local tools' commands, in the order the usage message lists them.
const std::vector<ToolCommand>& ToolCommands();
// The usage message of ftl_tools: every command's synopsis.
std::string ToolsUsage();
// `ftl COMMAND --help`: the command's synopsis and only the flags it reads, with their defaults;
// "" when `command` is not a local command.
std::string ToolCommandHelp(const std::string& command);

absl::StatusOr<SplitCommandOptions> SplitOptionsFromFlags();
absl::StatusOr<PairsCommandOptions> PairsOptionsFromFlags();
absl::StatusOr<EvalCommandOptions> EvalOptionsFromFlags();
absl::StatusOr<ExperimentOptions> ExperimentOptionsFromFlags();
absl::StatusOr<PackCommandOptions> PackOptionsFromFlags();
absl::StatusOr<SynthCommandOptions> SynthOptionsFromFlags();
absl::StatusOr<ExportCommandOptions> ExportOptionsFromFlags();
absl::StatusOr<EmbedCommandOptions> EmbedOptionsFromFlags();
// `bins`: every --bin given (the flag may be repeated), gathered from argv before parsing.
absl::StatusOr<VerifyCommandOptions> VerifyOptionsFromFlags(const std::vector<std::string>& bins);

}  // namespace ftl

#endif  // FTL_SERVICES_CLI_COMMAND_FLAGS_H_
