import Crypto
import EpochCore
import EpochFuzzSupport

// The Roughtime client's door: one datagram verified as the reply to our request (RoughtimeReply,
// every check of RFC 10049 §5.4), for each version's request. Then, so that the fuzzer reaches the
// checks behind the signatures too, the same reply signed again (DELE, naming our online key, by
// the long-term key; SREP by the online key) and verified again.
// Invariants: no trap; what verifies has MINT ≤ MIDP ≤ MAXT, a RADI above zero, and a version
// the request offered.

let requests = RoughtimeVersion.allCases.map { ($0, FuzzRoughtimeKeys.request($0)) }
let publicKey = FuzzRoughtimeKeys.longTerm.publicKey

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let reply = fuzzInput(data, size)
    var candidates = [reply]
    if let resigned = signAgain(reply) { candidates.append(resigned) }
    for candidate in candidates {
        for (version, request) in requests {
            guard
                let verified = try? RoughtimeReply(verifying: candidate, request: request, publicKey: publicKey)
            else { continue }
            require(verified.version == version, "a \(verified.version) reply to a \(version) request")
            require(verified.mint <= verified.midpoint && verified.midpoint <= verified.maxt, "MIDP outside MINT..MAXT")
            require(verified.radius > 0, "RADI 0 accepted")
            #if EPOCH_FUZZ_PLANTED_BUG
            // Planted bug (the control): a verified reply with a RADI of 256 s or more (the
            // corpus's is 3 s) has its PATH read one hash past its length. The fuzzer must change
            // one of RADI's three upper bytes inside the signed SREP (re-signed by signAgain).
            if verified.radius >= 0x100, let path = try? RoughtimePacket.unframe(candidate[...])[.path] {
                path.withUnsafeBufferPointer { plantedSink &+= $0.baseAddress![path.count + 32] }
            }
            #endif
        }
    }
    return 0
}

/// The reply signed again by the corpus's keys: DELE, with our online key as its PUBK, by the
/// long-term key, and SREP by the online key. nil when it does not frame or has no CERT with a DELE.
func signAgain(_ reply: [UInt8]) -> [UInt8]? {
    guard let message = try? RoughtimePacket.unframe(reply[...]), let certificate = try? message.nested(.cert, in: ""),
        let delegation = try? certificate.nested(.dele, in: "")
    else { return nil }
    let srep = message[.srep]
    let versionNumber = srep.flatMap { try? RoughtimeMessage.parse($0[...]).uint32(.ver) } ?? nil
    let version = versionNumber.flatMap(RoughtimeVersion.init(rawValue:)) ?? .rfc
    let dele = replacing(.pubk, with: Array(FuzzRoughtimeKeys.online.publicKey.rawRepresentation), in: delegation)
        .encoded()
    guard let deleSignature = try? FuzzRoughtimeKeys.longTerm.signature(for: version.delegationContext + dele) else {
        return nil
    }
    let cert = RoughtimeMessage([(.dele, dele), (.sig, Array(deleSignature))])
    var entries = replacing(.cert, with: cert.encoded(), in: message)
    if let srep, let signature = try? FuzzRoughtimeKeys.online.signature(for: version.responseContext + srep) {
        entries = replacing(.sig, with: Array(signature), in: entries)
    }
    return RoughtimePacket.frame(entries)
}

/// `message` with the value of `tag` replaced, or added.
func replacing(_ tag: RoughtimeTag, with value: [UInt8], in message: RoughtimeMessage) -> RoughtimeMessage {
    RoughtimeMessage(message.entries.filter { $0.tag != tag }.map { ($0.tag, $0.value) } + [(tag, value)])
}

#if EPOCH_FUZZ_PLANTED_BUG
nonisolated(unsafe) var plantedSink: UInt8 = 0
#endif

runLibFuzzer(fuzzOneInput)
