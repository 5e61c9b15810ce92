import Crypto

/// The Merkle tree a batch of requests is answered from (RFC 10049 §5.3): a leaf is
/// H(0x00 ‖ request packet), a node H(0x01 ‖ left ‖ right), and H is SHA-512 cut to its first
/// 32 bytes. The signed ROOT covers every request of the batch; each reply carries its leaf's
/// INDX and the PATH of sibling hashes from the leaf up.
public enum RoughtimeMerkle {
    public static let hashSize = 32
    /// A PATH holds at most 32 hashes (RFC 10049 §5.2.4).
    public static let maxDepth = 32

    public static func leaf(_ request: some Sequence<UInt8>) -> [UInt8] {
        var hash = SHA512()
        hash.update(data: [UInt8(0x00)])
        hash.update(data: Array(request))
        return Array(hash.finalize().prefix(hashSize))
    }

    public static func node(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] {
        var hash = SHA512()
        hash.update(data: [UInt8(0x01)])
        hash.update(data: left)
        hash.update(data: right)
        return Array(hash.finalize().prefix(hashSize))
    }

    /// A tree over leaf hashes. A count that is not a power of two is padded by repeating the
    /// last leaf, so that every path has the same depth (as the reference implementations do;
    /// clients only follow PATH and INDX, so any padding verifies).
    public struct Tree: Sendable {
        /// levels[0] holds the (padded) leaves, the last level the root alone.
        private let levels: [[[UInt8]]]

        public init(leaves: [[UInt8]]) {
            precondition(!leaves.isEmpty, "a Merkle tree has at least one leaf")
            var level = leaves
            var width = 1
            while width < level.count { width *= 2 }
            level += Array(repeating: level.last!, count: width - level.count)
            var levels = [level]
            while level.count > 1 {
                level = stride(from: 0, to: level.count, by: 2).map { node(level[$0], level[$0 + 1]) }
                levels.append(level)
            }
            self.levels = levels
        }

        public var root: [UInt8] { levels.last![0] }

        /// The sibling hashes from leaf `index` up to the root, concatenated as PATH carries them.
        public func path(_ index: Int) -> [UInt8] {
            var position = index
            var bytes: [UInt8] = []
            for level in levels.dropLast() {
                bytes += level[position ^ 1]
                position /= 2
            }
            return bytes
        }
    }

    /// The root that `leaf` at `index` leads to through `path`; nil when PATH is not whole hashes,
    /// is deeper than 32, or INDX has bits above the path's depth.
    public static func root(leaf: [UInt8], index: UInt32, path: [UInt8]) -> [UInt8]? {
        guard path.count % hashSize == 0 else { return nil }
        let depth = path.count / hashSize
        guard depth <= maxDepth, depth == 32 || index >> UInt32(depth) == 0 else { return nil }
        var hash = leaf
        for level in 0..<depth {
            let sibling = Array(path[(level * hashSize)..<((level + 1) * hashSize)])
            hash = (index >> UInt32(level)) & 1 == 0 ? node(hash, sibling) : node(sibling, hash)
        }
        return hash
    }
}
