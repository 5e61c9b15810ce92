import ArgumentParser
import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The process entry point: a synchronous `main` that runs the command on the concurrency
/// runtime's threads and blocks until it finishes.
///
/// Not `static func main() async`: an async main parks the main thread with `dispatch_main()`,
/// whose `pthread_exit` unwinds it, and in a static executable the unwinder's first lookup sorts
/// every entry of the binary's 2.5 MB `.eh_frame` — about 24 ms of CPU at start-up (measured with
/// perf) and 3 MiB of resident memory, for nothing. The release binary now carries no unwind
/// tables at all (tools/no-unwind-tables.ld), so there an async main's `pthread_exit` would abort.
@main
enum EntryPoint {
    static func main() {
        let finished = DispatchSemaphore(value: 0)
        Task.detached {
            await Epoch.runCommandLine()
            finished.signal()
        }
        finished.wait()
    }
}

/// `epoch`: the time service and its clock-offset client in one binary.
struct Epoch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "epoch",
        abstract: "Serve the current Unix time over HTTP, and measure a clock's offset against it.",
        version: "\(BuildInfo.version) (rev \(BuildInfo.revision), Swift \(BuildInfo.swiftVersion))",
        subcommands: [Serve.self, Sync.self, Check.self, Watch.self, Roughtime.self, NTS.self],
        defaultSubcommand: Serve.self
    )

    /// ArgumentParser exits 64 on bad input; our contract is exit 2 with one readable line
    /// (what `getopt`-style tools and the `check` subcommand's callers expect).
    static func runCommandLine() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CommandFailure {
            printError(error.message)
            Self.exit(withError: ExitCode(error.exitCode))
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            let message = message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            printError(message + " (see 'epoch --help')")
            Self.exit(withError: ExitCode(2))
        }
    }
}

/// A failure the command reports in one line and a chosen exit code.
struct CommandFailure: Error {
    var message: String
    var exitCode: Int32

    static func usage(_ message: String) -> CommandFailure { CommandFailure(message: message, exitCode: 2) }
}

func printError(_ message: String) {
    var line = "epoch: " + message + "\n"
    line.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}
