import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The back office's static files, embedded in the binary. Each answer carries an ETag of its
/// bytes, so a browser revalidates with a 304 instead of downloading it again after a deploy.
enum AdminAssets {
    static func register(on registrar: RouteRegistrar) {
        serve("/admin/assets/admin.css", PackageResources.admin_css, type: "text/css; charset=utf-8", on: registrar)
        serve("/admin/assets/icon.svg", PackageResources.icon_svg, type: "image/svg+xml", on: registrar)
    }

    private static func serve(_ path: String, _ bytes: [UInt8], type: String, on registrar: RouteRegistrar) {
        let tag = "\"" + SecretToken.digest(String(decoding: bytes, as: UTF8.self)).prefix(16) + "\""
        registrar.on(.get, path, access: .anonymous) { request, _ in
            var headers = HTTPFields()
            headers[.contentType] = type
            headers[.eTag] = tag
            headers[.cacheControl] = "no-cache"
            if request.headers[.ifNoneMatch] == tag { return Response(status: .notModified, headers: headers) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }
}
