// The C library, imported in this one place for the whole module and re-exported to the
// modules built on ParleyIO: Glibc on Linux, Darwin on macOS and iOS. Code above this line
// names only POSIX calls and constants; anything that differs between systems goes through
// CParleySystem (see IOEvents, Poller, Wakeup, SystemSocket).
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Darwin)
@_exported import Darwin
#endif

/// `close(2)`, callable from types that have a `close()` method of their own.
@inline(__always) @discardableResult
package func closeDescriptor(_ fd: Int32) -> Int32 {
    close(fd)
}

/// `SOCK_STREAM` as an `Int32`: Glibc imports it as an enum case, Darwin as an integer.
@inline(__always)
package var socketStreamType: Int32 {
    #if canImport(Glibc)
    Int32(SOCK_STREAM.rawValue)
    #else
    SOCK_STREAM
    #endif
}

/// `RLIMIT_NOFILE` as an `Int32`: Glibc imports it as an enum case, Darwin as an integer.
@inline(__always)
package var openFileLimitResource: Int32 {
    #if canImport(Glibc)
    Int32(RLIMIT_NOFILE.rawValue)
    #else
    RLIMIT_NOFILE
    #endif
}
