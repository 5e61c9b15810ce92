import EpochCore
import EpochFuzzSupport

// The answers' fields are internal: this tree compiles EpochClient for testing (Package.swift).
@testable import EpochClient

// The client's parsers of what servers and operators send: the first byte picks one, the rest is
// its input. 0: a 200 body of /sync or / (JSON) and the sample or whole-second interval made from
// it, as `epoch sync` does; 1: a `Date` header; 2: a duration; 3: a service URL; 4: a roughtime://
// address; 5: a base64 public key. Invariants: no trap; what is accepted writes back as itself
// (durations, URLs, addresses, public keys, and dates: formatted again, the same IMF-fixdate).

/// A client's own clock when it sent and received (Unix nanoseconds, 2026-12-01).
let sentAt: Int64 = 1_796_114_096_000_000_000
let receivedAt = sentAt + 2_000_000

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = fuzzInput(data, size)
    guard let selector = input.first else { return 0 }
    let body = Array(input.dropFirst())
    let text = String(decoding: body, as: UTF8.self)
    switch selector % 6 {
    case 0: answer(body)
    case 1:
        if let seconds = parseHTTPDate(Substring(text)) {
            require(text.utf8.count == 29 && text.hasSuffix(" GMT"), "\(jsonStringLiteral(text)) accepted as a Date")
            // The time read is the one written: formatted again (the server's httpDate), it gives
            // the same weekday, day, month, year and time of day; a leap second (":60") reads as
            // the second after ":59", as parseHTTPDate says.
            let leapSecond = text.hasSuffix(":60 GMT")
            let written = leapSecond ? String(text.dropLast(6)) + "59 GMT" : text
            require(
                imfFixdate(leapSecond ? seconds - 1 : seconds) == written,
                "\(jsonStringLiteral(text)) read as \(seconds), which is \(imfFixdate(seconds))")
        }
    case 2:
        if let duration = parseDuration(text) {
            require(parseDuration(formatDuration(duration)) == duration, "\(text) does not write back")
        }
    case 3:
        if let url = try? ServiceURL(parsing: text) {
            require((try? ServiceURL(parsing: url.description)) == url, "\(url) does not read back")
            require((1...65535).contains(url.port), "port \(url.port)")
        }
    case 4:
        if let address = try? RoughtimeAddress(parsing: text) {
            require((try? RoughtimeAddress(parsing: address.description)) == address, "\(address) does not read back")
        }
    default:
        if let key = try? RoughtimeKeyText.publicKey(text) {
            require(
                (try? RoughtimeKeyText.publicKey(RoughtimeKeyText.text(key)))?.rawRepresentation
                    == key.rawRepresentation,
                "a public key does not read back")
        }
    }
    #if EPOCH_FUZZ_PLANTED_BUG
    // Planted bug (the control): a duration's whole seconds index a 100-entry table, as if no
    // duration reached 100 s, one past its end for 100 s or more. No seed is that long (500 ms,
    // -1.5 s, 250 µs), so the fuzzer must write one. It was a `Date` on the 31st before, found
    // after 5, 20 and 41 s of 42 in three runs: too near its share to be a control that cannot
    // fail by chance (docs/reliability.md).
    if selector % 6 == 2, let duration = parseDuration(text), duration >= .seconds(100) {
        let index = Int(min(duration.components.seconds, 100))
        plantedSeconds.withUnsafeBufferPointer { table in
            plantedSink &+= table.baseAddress![index]
        }
    }
    #endif
    return 0
}

/// What `epoch sync` does with a 200 body: a /sync answer becomes a checked sample and an estimate,
/// a whole-second one an interval of offsets.
func answer(_ body: [UInt8]) {
    guard let parsed = try? Answer.parse(body, from: "http://fuzz/sync") else { return }
    switch parsed {
    case .sync(let sync):
        require(sync.type == "sync" && sync.unit == "ns", "a /sync answer of type \(sync.type), unit \(sync.unit)")
        if let sample = SyncSample.checked(t1: sentAt, t2: sync.t2, t3: sync.t3, t4: receivedAt) {
            _ = (sample.offset, sample.delay)
            if let estimate = estimateOffset([sample]) { require(estimate.errorBound >= 0, "a negative bound") }
        }
        _ = sync.clock?.summary
    case .wholeSeconds(let epoch):
        let sample = WholeSecondSample(t1: sentAt, t4: receivedAt, serverSecond: epoch.data)
        if let interval = try? WholeSecondInterval(sample) {
            require(interval.allowed.lowerBound < interval.allowed.upperBound, "an empty interval")
            _ = (interval.offset, interval.errorBound)
        }
    }
}

/// `httpDate`, with the year in four digits as IMF-fixdate has it (httpDate leaves years before
/// 1000 short: the server only ever formats its own clock's time).
func imfFixdate(_ seconds: Int64) -> String {
    var words = httpDate(unixSeconds: seconds).split(separator: " ").map(String.init)
    if words.count == 6, words[3].count < 4 { words[3] = String(repeating: "0", count: 4 - words[3].count) + words[3] }
    return words.joined(separator: " ")
}

#if EPOCH_FUZZ_PLANTED_BUG
let plantedSeconds = [UInt8](repeating: 1, count: 100)
nonisolated(unsafe) var plantedSink: UInt8 = 0
#endif

runLibFuzzer(fuzzOneInput)
