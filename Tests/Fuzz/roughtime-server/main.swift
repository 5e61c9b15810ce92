import EpochCore
import EpochFuzzSupport

// The Roughtime server's door: one datagram parsed as a request (RoughtimeRequest, with this
// server's SRV) and answered as the server answers a batch (RoughtimeResponder), alone and as the
// second of two. Invariants: no trap; no reply larger than its request (the server drops those,
// which must never be needed); every reply verifies under the server's key with our own client
// (RoughtimeReply) and says the MIDP and RADI it was given.

let serverKeyHash = RoughtimeRequest.serverKeyHash(Array(FuzzRoughtimeKeys.longTerm.publicKey.rawRepresentation))
let midpoint: UInt64 = 0x6B0E_868B
let radius: UInt32 = 3
let other = try! RoughtimeRequest(
    parsing: RoughtimeRequest.make(nonce: [UInt8](repeating: 7, count: 32)), serverKeyHash: serverKeyHash)

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let packet = fuzzInput(data, size)
    guard let request = try? RoughtimeRequest(parsing: packet, serverKeyHash: serverKeyHash) else { return 0 }
    require(packet.count >= RoughtimeRequest.minimumSize, "a \(packet.count)-byte request parsed")
    require(request.nonce.count == RoughtimeRequest.nonceSize, "a \(request.nonce.count)-byte nonce")
    let batches = [[request], [other, request]]
    for batch in batches {
        let replies: [[UInt8]]
        do {
            replies = try RoughtimeResponder.respond(
                to: batch, version: request.version, delegation: FuzzRoughtimeKeys.delegation, midpoint: midpoint,
                radius: radius)
        } catch {
            require(false, "signing failed: \(error)")
            return 0
        }
        guard let reply = replies.last else { return 0 }
        require(reply.count <= packet.count, "a \(reply.count)-byte reply to a \(packet.count)-byte request")
        do {
            let verified = try RoughtimeReply(
                verifying: reply, request: packet, publicKey: FuzzRoughtimeKeys.longTerm.publicKey)
            require(verified.midpoint == midpoint && verified.radius == radius, "the reply says other times")
            require(verified.version == request.version, "reply version \(verified.version)")
        } catch {
            require(false, "our own reply does not verify: \(error)")
        }
    }
    #if EPOCH_FUZZ_PLANTED_BUG
    // Planted bug (the control): a request whose nonce's first byte is 0xF0 or above (no seed's
    // is) has the byte after its declared message length read, one past the datagram. The fuzzer
    // must keep the request valid and change that byte of NONC. (A four-byte "FUZZ" prefix was
    // not found in 42 s: 344,244 executions, 2026-12-03.)
    if let first = request.nonce.first, first >= 0xF0, let data {
        let declared = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
        plantedSink &+= data[RoughtimePacket.headerSize + declared]
    }
    #endif
    return 0
}

#if EPOCH_FUZZ_PLANTED_BUG
nonisolated(unsafe) var plantedSink: UInt8 = 0
#endif

runLibFuzzer(fuzzOneInput)
