#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The command line's small files: key files it writes and reads, and the report `check --report`
/// writes. Errors name the file, never its contents (key files hold secrets).
enum CommandFiles {
    /// Writes `contents` to a new `file` with `mode`, synced to disk. `replacing` false refuses an
    /// existing file (keys are never overwritten); a failed write leaves no new file behind.
    static func save(
        _ contents: [UInt8], to file: String, mode: mode_t, replacing: Bool, exitCode: Int32
    ) throws(CommandFailure) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (replacing ? O_TRUNC : O_EXCL)
        let descriptor = open(file, flags, mode)
        guard descriptor >= 0 else {
            throw CommandFailure(
                message: "cannot create \(file): \(String(cString: strerror(errno)))", exitCode: exitCode)
        }
        let written = contents.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor)
        close(descriptor)
        guard written == contents.count, synced == 0 else {
            if !replacing { unlink(file) }
            throw CommandFailure(
                message: "cannot write \(file): \(String(cString: strerror(errno)))", exitCode: exitCode)
        }
    }

    /// The first 4 KiB of `file` (every key file is far smaller); a failure is a usage error that
    /// names `option` and the file.
    static func readSmall(_ file: String, option: String) throws(CommandFailure) -> [UInt8] {
        let descriptor = open(file, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .usage("\(option) \(file): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var contents = [UInt8](repeating: 0, count: 4096)
        let count = contents.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw .usage("\(option) \(file): \(String(cString: strerror(errno)))") }
        return Array(contents[..<count])
    }
}
