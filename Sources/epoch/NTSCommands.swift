import ArgumentParser
import EpochCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `epoch nts …`: key management for the NTS server.
struct NTS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nts",
        abstract: "Network Time Security (RFC 8915) key management.",
        subcommands: [NTSKeygen.self]
    )
}

/// `epoch nts keygen FILE`: a new cookie key, written with mode 0600, never over an existing file.
struct NTSKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a new NTS cookie key to FILE (mode 0600): `epoch serve --nts-cookie-key FILE`.",
        discussion: """
            FILE holds a key ID and an AES-SIV-CMAC-256 key as hex, one line; every replica gets the same \
            FILE (in Kubernetes, a Secret), so that any replica opens any replica's cookies. To rotate, \
            write a new FILE with --previous OLD: the new key seals, the old one still opens the cookies \
            clients hold. An existing FILE is never overwritten. Nothing is printed.
            """
    )

    @Argument(help: "Where to write the key file (must not exist).")
    var file: String

    @Option(help: "The key file in use now: its sealing key is kept in FILE as the previous key, which only opens.")
    var previous: String?

    func run() async throws {
        var keys: [NTSCookieKey] = []
        var generator = SystemRandomNumberGenerator()
        var id = UInt32.random(in: 1...UInt32.max, using: &generator)
        var kept: NTSCookieKey?
        if let previous {
            do {
                kept = try NTSCookieKeyFile.parse(try CommandFiles.readSmall(previous, option: "--previous")).keys.first
            } catch let error as NTSCookieKeyring.Invalid {
                throw CommandFailure.usage("--previous \(previous) \(error.description)")
            }
            while id == kept?.id { id = UInt32.random(in: 1...UInt32.max, using: &generator) }
        }
        keys.append(NTSCookieKey(id: id, key: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }))
        if let kept { keys.append(kept) }
        let contents = NTSCookieKeyFile.contents(keys)
        try CommandFiles.save(contents, to: file, mode: 0o600, replacing: false, exitCode: 1)
    }
}
