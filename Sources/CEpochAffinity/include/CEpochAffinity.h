// The calling thread's CPU affinity count: sched_getaffinity(2) and CPU_COUNT need _GNU_SOURCE,
// which Glibc's Swift module is not built with.
#pragma once

// The number of CPUs in the calling thread's affinity mask, or -1 when it cannot be read.
int epoch_affinity_cpu_count(void);
