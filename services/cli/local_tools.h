// The `ftl` subcommands that work on local files rather than through the coordinator:
//   ftl split       Table-1 style split of an image folder / IDX set into manifests
//   ftl pairs       balanced verification pairs in disjoint folds (LFW pairs.txt format)
//   ftl eval        metrics, figures and pictures of a checkpoint
//   ftl experiment  softmax / softmax+m-L2 / FTL side by side on one split
//   ftl pack        an image folder as InsightFace RecordIO (.rec + .idx)
// Each returns the process exit code (0 ok, 1 failure, 2 bad usage) and reads its own flags.
#ifndef FTL_SERVICES_CLI_LOCAL_TOOLS_H_
#define FTL_SERVICES_CLI_LOCAL_TOOLS_H_

namespace ftl {

int RunSplitCommand();
int RunPairsCommand();
int RunEvalCommand();
int RunExperimentCommand();
int RunPackCommand();

}  // namespace ftl

#endif  // FTL_SERVICES_CLI_LOCAL_TOOLS_H_
