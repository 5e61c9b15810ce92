/// The one place that decides whether a datagram's length can be an NTP request.
///
/// RFC 5905 §7.5: extension fields and a MAC follow the 48-byte header in 32-bit words, so a
/// request is 48 bytes plus a multiple of 4; chrony 4.3 drops any other length before reading it.
/// An extension-field parser (NTS, RFC 8915) extends this check rather than adding another.
public enum NTPRequestLength {
    /// Why `count` bytes cannot be a request, or nil when they can.
    public static func problem(count: Int) -> NTPDropReason? {
        if count < NTPPacket.size { return .tooShort }
        if (count - NTPPacket.size) % 4 != 0 { return .badLength }
        return nil
    }
}
