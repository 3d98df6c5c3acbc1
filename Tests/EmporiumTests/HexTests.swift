import EmporiumCore
@testable import Emporium
import Testing

@Suite struct HexTests {
    @Test func bytesBecomeLowerCaseHexadecimal() {
        #expect(Hex.string([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.string([UInt8]()) == "")
        // Secret digests are SHA-256 in hex: the test vector of "abc" (FIPS 180-2).
        #expect(SecretToken.digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
