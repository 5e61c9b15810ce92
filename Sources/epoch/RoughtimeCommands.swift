import ArgumentParser
import Crypto
import EpochCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `epoch roughtime …`: key management for the Roughtime server.
struct Roughtime: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Roughtime (RFC 10049) key management.",
        subcommands: [RoughtimeKeygen.self]
    )
}

/// `epoch roughtime keygen FILE`: a new long-term key, written with mode 0600; prints the public key.
struct RoughtimeKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new long-term Ed25519 key to FILE (mode 0600) and print its base64 public key.",
        discussion: """
            FILE holds the private seed as one line of base64; give it to `epoch serve --roughtime-key FILE` \
            (in Kubernetes, as a Secret). Publish the printed public key: clients pin it with --public-key. \
            An existing FILE is never overwritten.
            """
    )

    @Argument(help: "Where to write the private key (must not exist).")
    var file: String

    func run() async throws {
        let key = Curve25519.Signing.PrivateKey()
        let contents = RoughtimeKeyText.fileContents(key)
        try CommandFiles.save(contents, to: file, mode: 0o600, replacing: false, exitCode: 1)
        print(RoughtimeKeyText.text(key.publicKey))
    }
}

/// Reads the long-term key for `epoch serve --roughtime-key FILE`; errors name the file, never its contents.
func readRoughtimeKey(_ file: String) throws -> Curve25519.Signing.PrivateKey {
    let contents = try CommandFiles.readSmall(file, option: "--roughtime-key")
    do {
        return try RoughtimeKeyText.privateKey(contents)
    } catch {
        throw CommandFailure.usage("--roughtime-key \(file) \(error.description)")
    }
}
