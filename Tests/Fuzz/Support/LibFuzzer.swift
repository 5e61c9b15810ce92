#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One input, as libFuzzer calls `LLVMFuzzerTestOneInput`.
public typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// libFuzzer's entry point for a program with its own `main` (libFuzzer 11 and later).
@_silgen_name("LLVMFuzzerRunDriver")
private func libFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: FuzzCallback
) -> CInt

/// Runs libFuzzer with the command line's options on `callback`, then exits with its status.
///
/// SwiftPM links an executable target's top-level code as `main` (it renames it and points `main`
/// at it), so a target's main.swift calls this; the same function is also exported as
/// `LLVMFuzzerTestOneInput`, which libFuzzer's own `main`, linked whole by `-sanitize=fuzzer`, names.
public func runLibFuzzer(_ callback: FuzzCallback) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(libFuzzerRunDriver(&argc, &argv, callback))
}

/// The input as bytes (libFuzzer passes a null pointer for the empty input).
public func fuzzInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> [UInt8] {
    guard let data, size > 0 else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: size))
}

/// Stops the run as a crash libFuzzer records (with the input that caused it) when an invariant
/// of the code under test does not hold.
public func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        let line = "fuzz invariant broken: \(message())\n"
        _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
        abort()
    }
}
