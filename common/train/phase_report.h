// PhaseReport: what one phase of the schedule did, as a plain struct. The worker maps it to the
// wire type ftl.v1.PhaseReport (services/worker/report_proto.h); the libraries never see protobuf.
#ifndef FTL_COMMON_TRAIN_PHASE_REPORT_H_
#define FTL_COMMON_TRAIN_PHASE_REPORT_H_

#include <cstdint>
#include <map>
#include <string>

namespace ftl {

struct PhaseReport {
  std::string phase;  // pretrain | update_stats | stage1 | stage2 | evaluate | checkpoint
  int round = -1;     // FTL round; -1 outside the rounds
  int64_t iterations = 0;
  double seconds = 0.0;
  int64_t images = 0;                     // images (or transferred features) trained on, all ranks
  std::map<std::string, double> losses;   // mean loss terms over the phase
  std::map<std::string, double> metrics;  // phase-specific figures (common/eval/metric_names.h)
  std::string checkpoint;                 // checkpoint phases: the file written
};

// One line for logs: "stage1 round 0: 12.1 s, 200 iterations, 530.2 images/s, sfmx=...".
std::string DescribeReport(const PhaseReport& report);

}  // namespace ftl

#endif  // FTL_COMMON_TRAIN_PHASE_REPORT_H_
