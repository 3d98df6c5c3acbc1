/// Lower-case hexadecimal text of bytes (digests, ETags, fingerprints, ids), and the value of
/// one digit. Written out by hand: `String(format:)` per byte cost several per cent of a cart
/// request's CPU time.
public enum Hex {
    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in bytes {
            text.append(digit(byte >> 4))
            text.append(digit(byte & 0x0f))
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The lower-case digit (ASCII) of a value from 0 to 15.
    public static func digit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? 0x30 + nibble : 0x57 + nibble  // 0-9, a-f
    }

    /// The value of an ASCII hexadecimal digit in either case; `nil` for any other byte.
    public static func value(ofDigit digit: UInt8) -> UInt8? {
        switch digit {
        case 0x30...0x39: digit - 0x30
        case 0x41...0x46: digit - 0x41 + 10
        case 0x61...0x66: digit - 0x61 + 10
        default: nil
        }
    }
}
