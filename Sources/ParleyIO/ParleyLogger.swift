#if canImport(Glibc)
#elseif canImport(Darwin)
import Darwin
#endif

/// Where Parley's servers and clients write what happens to them: a level threshold and a sink
/// that receives each line with its level and metadata.
///
/// The default, ``standardError``, writes one line per message to standard error, as a plain
/// Unix server does; ``disabled`` writes nothing. Anything else is a sink of your own: a file,
/// `os_log`, or swift-log (see the README's "Logging" section for a ten-line bridge).
///
/// ```swift
/// var configuration = Server.Configuration(port: 8887)
/// configuration.logger = ParleyLogger(level: .debug) { level, message, metadata in
///     print("[\(level)] \(message) \(metadata)")
/// }
/// ```
///
/// Messages and metadata are built only when their level passes the threshold, so a disabled
/// `debug` line costs one comparison.
public struct ParleyLogger: Sendable {
    /// How important a line is, from the chattiest to the gravest: swift-log's seven levels,
    /// with the same names (the raw values), so a bridge maps them one to one.
    public enum Level: String, Sendable, Comparable, CaseIterable, CustomStringConvertible {
        /// Every detail, for tracing a problem in Parley itself.
        case trace
        /// One line per connection, disconnection and refusal (what `verbose` used to show).
        case debug
        /// A few lines in a process's life: listening, shutting down.
        case info
        /// Normal but significant: a cluster node back after an outage.
        case notice
        /// Service is degraded but goes on: Redis unreachable, accepts paused for descriptors.
        case warning
        /// An operation failed.
        case error
        /// The process cannot go on.
        case critical

        private var rank: Int {
            switch self {
            case .trace: 0
            case .debug: 1
            case .info: 2
            case .notice: 3
            case .warning: 4
            case .error: 5
            case .critical: 6
            }
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rank < rhs.rank }

        public var description: String { rawValue }
    }

    /// Key-value detail of one line (e.g. `["address": "10.0.0.7:51234"]`). Strings only: what
    /// a line shows is text, and a bridge turns them into its own metadata values.
    public typealias Metadata = [String: String]

    /// Receives each line that passes the threshold. Called on the thread that logs (often an
    /// event loop's), so it should not block.
    public typealias Sink = @Sendable (_ level: Level, _ message: String, _ metadata: Metadata) -> Void

    /// Lines below this level are skipped before their message is built.
    public var level: Level
    private let sink: Sink?

    /// A logger that hands lines at `level` and above to `sink`.
    /// - Parameters:
    ///   - level: the threshold.
    ///   - sink: receives each line with its level and metadata.
    public init(level: Level, sink: @escaping Sink) {
        self.level = level
        self.sink = sink
    }

    private init(level: Level, disabled: Void) {
        self.level = level
        sink = nil
    }

    /// One line per message on standard error, `message key=value ...` (metadata sorted by key;
    /// `warning` and graver lines say their level). Level `info`: the listening line, outages
    /// and other warnings show, connections do not (set `.debug` for those). `write(2)` of a
    /// whole line at once: lines from several threads never interleave.
    public static let standardError = ParleyLogger(level: .info) { level, message, metadata in
        writeLine(format(level, message, metadata))
    }

    /// Writes nothing, and builds no message.
    public static let disabled = ParleyLogger(level: .critical, disabled: ())

    /// Whether a line at `level` would be written.
    @inlinable
    public func isEnabled(_ level: Level) -> Bool {
        level >= self.level && isActive
    }

    @usableFromInline
    var isActive: Bool { sink != nil }

    /// Writes `message` at `level` if it passes the threshold.
    /// - Parameters:
    ///   - level: how important the line is.
    ///   - message: built only when the line is written.
    ///   - metadata: built only when the line is written.
    public func log(_ level: Level, _ message: @autoclosure () -> String,
                    metadata: @autoclosure () -> Metadata = [:]) {
        guard level >= self.level, let sink else { return }
        sink(level, message(), metadata())
    }

    /// Writes at ``Level/trace``.
    public func trace(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.trace, message(), metadata: metadata())
    }

    /// Writes at ``Level/debug``.
    public func debug(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.debug, message(), metadata: metadata())
    }

    /// Writes at ``Level/info``.
    public func info(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.info, message(), metadata: metadata())
    }

    /// Writes at ``Level/notice``.
    public func notice(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.notice, message(), metadata: metadata())
    }

    /// Writes at ``Level/warning``.
    public func warning(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.warning, message(), metadata: metadata())
    }

    /// Writes at ``Level/error``.
    public func error(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.error, message(), metadata: metadata())
    }

    /// Writes at ``Level/critical``.
    public func critical(_ message: @autoclosure () -> String, metadata: @autoclosure () -> Metadata = [:]) {
        log(.critical, message(), metadata: metadata())
    }

    /// The line ``standardError`` writes, without its newline: `message`, then ` key=value` per
    /// metadata entry in key order (quoted when empty or holding a space, `"` or `=`); a
    /// `warning` or graver line starts with its level: `warning: parley: Redis ... is down`.
    package static func format(_ level: Level, _ message: String, _ metadata: Metadata) -> String {
        var line = level >= .warning ? "\(level): \(message)" : message
        for key in metadata.keys.sorted() {
            let value = metadata[key] ?? ""
            let quoted = value.isEmpty || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" })
            line += " \(key)=" + (quoted ? "\"" + value.replacingQuotes() + "\"" : value)
        }
        return line
    }

    /// Writes `text` and a newline to standard error in one `write(2)`.
    private static func writeLine(_ text: String) {
        var line = text + "\n"
        line.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            var offset = 0
            while offset < bytes.count {
                let written = write(2, base + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var escaped = ""
        for character in self {
            if character == "\"" || character == "\\" { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}
