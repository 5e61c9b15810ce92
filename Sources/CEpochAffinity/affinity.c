#define _GNU_SOURCE
#include "CEpochAffinity.h"

#ifdef __linux__
#include <sched.h>

int epoch_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}
#else
int epoch_affinity_cpu_count(void) { return -1; }
#endif
