// Exposes adjtimex(2) and struct timex to Swift: Glibc's Swift module does not include
// <sys/timex.h>.
#pragma once
#ifdef __linux__
#include <sys/timex.h>
#endif
