import EpochCore
import EpochFuzzSupport

// The NTP door: one datagram through the responder the server runs (NTPResponder), under a
// synchronized and an unsynchronized kernel, serving the unsynchronized clock or not.
// Invariants: no trap; a reply only to a client-mode request of version 1-4 (a zero transmit
// time is answered, as RFC 4330 §5 and chrony do), never larger than the request, echoing its
// transmit time and version; a reply that reads back as the packet it encodes.

let receivedAt: UnixNanoseconds = 1_796_114_096_000_000_000
let disciplines = [
    ClockDiscipline(state: .ok, status: 0x2001, maxErrorNanoseconds: 1_500_000, estimatedErrorNanoseconds: 20_000),
    ClockDiscipline(
        state: .error, status: ClockDiscipline.statusUnsynchronized, maxErrorNanoseconds: 16_000_000_000,
        estimatedErrorNanoseconds: 16_000_000_000),
]
let responders = [false, true].map { NTPResponder(stratum: 2, precision: -29, serveUnsynchronized: $0) }

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let request = fuzzInput(data, size)
    for responder in responders {
        for discipline in disciplines {
            switch responder.respond(to: request, receivedAt: receivedAt, discipline: discipline) {
            case .drop:
                continue
            case .reply(let reply):
                let parsed = try? NTPPacket(parsing: request)
                let bytes = reply.bytes
                require(bytes.count <= request.count, "a \(bytes.count)-byte reply to \(request.count) bytes")
                require(reply.mode == .server, "reply mode \(reply.mode)")
                require(parsed?.mode == .client, "a reply to mode \(String(describing: parsed?.mode))")
                require(reply.version == parsed?.version, "reply version \(reply.version)")
                require(reply.originTime == parsed?.transmitTime, "origin is not the request's transmit time")
                require((try? NTPPacket(parsing: bytes)) == reply, "the reply does not read back")
                #if EPOCH_FUZZ_PLANTED_BUG
                // Planted bug (the control): the bytes after the header read as an extension
                // field whose length counts its own 4-byte header, and its last byte is read one
                // past that length. AddressSanitizer must report it once the fuzzer appends a
                // field whose length reaches exactly to the end of the datagram.
                if size >= NTPPacket.size + 4, let data {
                    let length = Int(data[NTPPacket.size + 2]) << 8 | Int(data[NTPPacket.size + 3])
                    if length >= 4, NTPPacket.size + length == size {
                        plantedSink &+= data[NTPPacket.size + length]
                    }
                }
                #endif
            }
        }
    }
    return 0
}

nonisolated(unsafe) var plantedSink: UInt8 = 0

runLibFuzzer(fuzzOneInput)
