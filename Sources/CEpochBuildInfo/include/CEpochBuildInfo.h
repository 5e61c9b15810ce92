#ifndef C_EPOCH_BUILD_INFO_H
#define C_EPOCH_BUILD_INFO_H

/// The short git commit the binary was built from ("unknown" outside git).
const char *epoch_build_revision(void);
/// The release version the binary was built as.
const char *epoch_build_version(void);

#endif
