// Swift's `.define` carries no values, so the revision computed in Package.swift reaches Swift
// through this C target's compiler definitions.
#include "CEpochBuildInfo.h"

const char *epoch_build_revision(void) { return EPOCH_REV; }
const char *epoch_build_version(void) { return EPOCH_VERSION; }
