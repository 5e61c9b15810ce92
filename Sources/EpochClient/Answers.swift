import EpochCore
import FoundationEssentials

/// `GET /sync`'s answer.
package struct SyncAnswer: Decodable {
    var type: String
    var t2: Int64
    var t3: Int64
    var unit: String
    /// The server's own clock; absent from servers older than issue 11.
    var clock: ServerClock?
    var rev: String?
}

/// `GET /`'s answer, from this service or the original go-microepoch.
package struct EpochAnswer: Decodable {
    var type: String
    var data: Int64
    var unit: String?
    var rev: String?
}

/// What a server said, interpreted.
package enum Answer {
    case sync(SyncAnswer)
    case wholeSeconds(EpochAnswer)

    /// Reads a 200 body: a sync answer, or (from a server without `/sync` that answers every
    /// path with the epoch, as go-microepoch does) a whole-second epoch answer.
    package static func parse(_ body: [UInt8], from url: String) throws(SyncFailure) -> Answer {
        let decoder = JSONDecoder()
        let data = Data(body)
        if let sync = try? decoder.decode(SyncAnswer.self, from: data), sync.type == "sync", sync.unit == "ns" {
            return .sync(sync)
        }
        if let epoch = try? decoder.decode(EpochAnswer.self, from: data), epoch.type == "epoch",
            epoch.unit ?? "sec" == "sec"
        {
            return .wholeSeconds(epoch)
        }
        let preview = String(decoding: body.prefix(80), as: UTF8.self)
        do {
            _ = try decoder.decode(EpochAnswer.self, from: data)
        } catch DecodingError.dataCorrupted {
            throw .badAnswer("\(url) did not answer JSON: \(jsonStringLiteral(preview))")
        } catch {}
        throw .badAnswer(
            "\(url) answered JSON of the wrong shape (expected an epoch /sync or / answer): \(jsonStringLiteral(preview))"
        )
    }
}
