#include "common/schedule/job_schedule.h"

namespace ftl {

ScheduleConfig ScheduleConfigFor(const JobConfig& config) {
  ScheduleConfig s;
  s.alternate = config.training.method == Method::kFtl;
  s.pretrain_iterations = config.training.pretrain_iterations;
  s.rounds = s.alternate ? config.training.rounds : 0;
  s.stage_iterations = config.training.stage_iterations;
  s.evaluate_every_rounds = config.training.evaluate_every_rounds;
  s.checkpoint_every_rounds = config.training.checkpoint_every_rounds;
  return s;
}

}  // namespace ftl
