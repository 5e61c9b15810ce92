import CEpochBuildInfo

/// What the binary knows about its own build, fixed at compile time.
enum BuildInfo {
    static let revision = String(cString: epoch_build_revision())
    static let version = String(cString: epoch_build_version())
    static let swiftVersion: String = {
        #if compiler(>=6.4)
        "6.4+"
        #elseif compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #else
        "6.1"
        #endif
    }()
}
