// The schedule a job config implies; shared by the worker and the coordinator so that both walk
// the same phase sequence.
#ifndef FTL_COMMON_SCHEDULE_JOB_SCHEDULE_H_
#define FTL_COMMON_SCHEDULE_JOB_SCHEDULE_H_

#include "common/config/job_config.h"
#include "common/schedule/schedule.h"

namespace ftl {

ScheduleConfig ScheduleConfigFor(const JobConfig& config);

}  // namespace ftl

#endif  // FTL_COMMON_SCHEDULE_JOB_SCHEDULE_H_
