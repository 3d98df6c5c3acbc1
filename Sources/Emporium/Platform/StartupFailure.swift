import Foundation
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The sentence a command prints when it stops on `error`: our own errors describe
/// themselves; a socket that cannot be bound is explained with the address and the flags that
/// choose it, instead of the system call's name and errno.
public func startupFailureMessage(_ error: any Error, configuration: AppConfiguration) -> String {
    let address = "\(configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host):\(configuration.port)"
    if let error = error as? IOError {
        switch error.errnoCode {
        case EADDRINUSE:
            return """
                cannot listen on \(address): the port is in use by another program (perhaps another emporium); \
                stop it, or choose another port with --port (EMPORIUM_PORT), e.g. --port \(configuration.port == 65535 ? 8081 : configuration.port + 1); \
                --port 0 picks a free one
                """
        case EADDRNOTAVAIL:
            return """
                cannot listen on \(address): this machine has no address \(configuration.host); set --host (EMPORIUM_HOST) \
                to one of its addresses, 127.0.0.1 for this machine only or 0.0.0.0 for every interface
                """
        case EACCES:
            return """
                cannot listen on \(address): permission denied (ports below 1024 need privileges); choose a port from \
                1024 up with --port (EMPORIUM_PORT) and put a proxy in front, or grant the binary CAP_NET_BIND_SERVICE
                """
        default:
            return "cannot listen on \(address): \(String(cString: strerror(error.errnoCode))); check --host (EMPORIUM_HOST) and --port (EMPORIUM_PORT)"
        }
    }
    if error is SocketAddressError {
        return """
            cannot listen on \(address): the host name \(configuration.host) does not resolve; set --host \
            (EMPORIUM_HOST) to an address of this machine, such as 127.0.0.1 or 0.0.0.0
            """
    }
    return String(describing: error)
}
