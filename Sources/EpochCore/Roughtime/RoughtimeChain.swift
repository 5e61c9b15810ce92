import Crypto

/// The rules of RFC 10049 §8.2's measurement sequence: how each nonce is chained to the reply
/// before it, and the causal order that the signed times of a chain must respect.
///
/// A chain proves the order in which the replies were made: the n-th request's nonce is a hash of
/// the (n−1)-th reply, so no server could have signed it before that reply existed. When two
/// signed times contradict that order, at least one server lied, and the chain is the evidence.
public enum RoughtimeChain {
    /// The nonce of the request that follows `previousResponse` (the whole packet received, with
    /// its ROUGHTIM header): H(previousResponse ‖ rand), H being SHA-512 cut to 32 bytes (§5.3).
    public static func nonce(previousResponse: [UInt8], rand: [UInt8]) -> [UInt8] {
        var hash = SHA512()
        hash.update(data: previousResponse)
        hash.update(data: rand)
        return Array(hash.finalize().prefix(RoughtimeRequest.nonceSize))
    }

    /// One signed time of a chain: who signed it, MIDP and RADI (seconds).
    public struct SignedTime: Sendable, Equatable {
        public var server: String
        public var midpoint: UInt64
        public var radius: UInt32

        public init(server: String, midpoint: UInt64, radius: UInt32) {
            self.server = server
            self.midpoint = midpoint
            self.radius = radius
        }

        /// MIDP − RADI and MIDP + RADI, widened so that no value can overflow.
        var earliest: Int128 { Int128(midpoint) - Int128(radius) }
        var latest: Int128 { Int128(midpoint) + Int128(radius) }
    }

    /// A pair of replies out of causal order: `earlier` was received first, yet its earliest
    /// possible time (MIDP − RADI) lies after `later`'s latest (MIDP + RADI).
    public struct Violation: Sendable, Equatable {
        public var earlier: Int
        public var later: Int
    }

    /// Every pair (i, j), i received before j, with MIDP_i − RADI_i > MIDP_j + RADI_j (§8.2).
    public static func violations(_ times: [SignedTime]) -> [Violation] {
        var found: [Violation] = []
        for i in times.indices {
            for j in times.indices where j > i && times[i].earliest > times[j].latest {
                found.append(Violation(earlier: i, later: j))
            }
        }
        return found
    }

    /// What a chain shows about its servers.
    public enum Verdict: Sendable, Equatable {
        /// Every pair is in causal order.
        case consistent
        /// Removing exactly these servers (the fewest that can explain every violation, and the
        /// only such set of that size) leaves the rest in causal order: they lied.
        case liars([String])
        /// Violations that no unique smallest set of servers explains (two servers that
        /// contradict each other, for instance): someone lied, but the chain cannot say who.
        case undecided([String])
    }

    /// The fewest servers whose replies, left out, put the rest in causal order. A liar is named
    /// only when that set is unique and smaller than the servers that remain to outvote it.
    public static func verdict(_ times: [SignedTime]) -> Verdict {
        let found = violations(times)
        guard !found.isEmpty else { return .consistent }
        var servers: [String] = []
        for time in times where !servers.contains(time.server) { servers.append(time.server) }
        let involved = servers.filter { server in
            found.contains { times[$0.earlier].server == server || times[$0.later].server == server }
        }
        for size in 1..<servers.count {
            let explaining = subsets(of: servers, size: size).filter { removed in
                violations(times.filter { !removed.contains($0.server) }).isEmpty
            }
            if explaining.isEmpty { continue }
            if explaining.count == 1, size < servers.count - size { return .liars(explaining[0]) }
            return .undecided(involved)
        }
        return .undecided(involved)
    }

    /// The subsets of `items` with `size` elements, in order (a chain names a handful of servers).
    static func subsets(of items: [String], size: Int) -> [[String]] {
        if size == 0 { return [[]] }
        guard items.count >= size else { return [] }
        let first = items[0]
        let rest = Array(items.dropFirst())
        return subsets(of: rest, size: size - 1).map { [first] + $0 } + subsets(of: rest, size: size)
    }
}
