import Foundation
import Hummingbird
import NIOCore

/// `multipart/form-data` (RFC 7578), as a browser sends a form with a file input: each part's
/// field name and its bytes read as UTF-8 text. It is read whole within the request's body
/// limit, which is what bounds an uploaded file; the back office's only file is a CSV.
enum MultipartForm {
    /// The `boundary` parameter of a `multipart/form-data` content type, or nil for any other type.
    static func boundary(of contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            // RFC 2046 §5.1.1: 1 to 70 characters.
            return (1...70).contains(value.utf8.count) ? value : nil
        }
        return nil
    }

    /// The form's fields by name. A field sent twice is noted in `repeated`, as in a URL-encoded
    /// form; a body that is not well-formed multipart is a 400.
    static func fields(of body: [UInt8], boundary: String) throws -> OAuthForm {
        let delimiter = Array("--\(boundary)".utf8)
        let malformed = Problem.badRequest("The form is not well-formed multipart/form-data.")
        guard var cursor = find(delimiter, in: body, from: 0) else { throw malformed }
        var values: [String: String] = [:]
        var repeated = Set<String>()
        while true {
            cursor += delimiter.count
            // `--` after a delimiter closes the body.
            if body.count >= cursor + 2, body[cursor] == 0x2D, body[cursor + 1] == 0x2D { break }
            guard body.count >= cursor + 2, body[cursor] == 0x0D, body[cursor + 1] == 0x0A,
                let headerEnd = find(Array("\r\n\r\n".utf8), in: body, from: cursor + 2),
                let next = find(Array("\r\n".utf8) + delimiter, in: body, from: headerEnd + 4)
            else { throw malformed }
            let headers = String(decoding: body[(cursor + 2)..<headerEnd], as: UTF8.self)
            guard let name = fieldName(headers) else { throw malformed }
            if values[name] != nil { repeated.insert(name) }
            // Refused rather than repaired: a file in another encoding would be imported with
            // replacement characters in place of its accented letters.
            guard let value = String(validating: body[(headerEnd + 4)..<next], as: UTF8.self) else {
                throw Problem.badRequest("The field \(name) is not UTF-8 text; save the file as UTF-8 and send it again.")
            }
            values[name] = value
            cursor = next + 2
        }
        return OAuthForm(values: values, repeated: repeated)
    }

    /// The `name` of a part's `Content-Disposition: form-data` header.
    private static func fieldName(_ headers: String) -> String? {
        for line in headers.split(separator: "\r\n") where line.lowercased().hasPrefix("content-disposition:") {
            for parameter in line.split(separator: ";").dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "name" else { continue }
                return pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
