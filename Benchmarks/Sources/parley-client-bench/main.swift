import ParleyClient
import ParleyIO
import ParleyProtocol
import Synchronization

// parley-client-bench: measures ParleyClient against `parley-server --path /` (the relay) on
// this machine, the client-side counterpart of the `wsload` load generator (Benchmarks/README.md
// says where it comes from). Loopback only, and every phase has a time cap, so the process
// always stops by itself.
//
//   echo     one client sends `echo` events one at a time (window 1), 64-byte messages as
//            wsload's envelope dialect, and times each round trip until the `echo` event comes
//            back (or, with --via ack, `emitWithAck("echo")` in an async loop).
//   receive  N clients in this process, on one EventLoopGroup; once all are connected it prints
//            `READY`, then counts every `broadcast` event and its fan-out latency from the
//            sender's `_t` (µs CLOCK_MONOTONIC + 1e15, as wsload's broadcast sender writes it).
//
// Both end with one line `RESULT {json}`.

let usage = """
    usage: parley-client-bench echo    --url ws://127.0.0.1:P/ [--duration S] [--warmup S] [--count N]
                                       [--via event|ack] [--loops N]
           parley-client-bench receive --url ws://127.0.0.1:P/ [--clients N] [--duration S] [--warmup S]
                                       [--drain S] [--loops N] [--connect-timeout S] [--wait S]

    echo:     one client, window 1, 64-byte messages: {"event":"echo","data":{"_t":...,"pad":"..."}}.
              Round trips are sent for --warmup s (default 1, not measured), then measured for
              --duration s (default 5, at most 120) or until --count N measured (default: no limit).
              --via event (default) waits for the `echo` event, as wsload's echo mode does;
              --via ack uses `emitWithAck("echo")` (the relay answers an id'd echo as an ack).
              Default group: the client's own (`EventLoopGroup.shared`, one loop).
    receive:  --clients N (default 1000, at most 20000) on one EventLoopGroup of --loops N threads
              (default: EventLoopGroup's default size, one per core). Prints `READY connected=N`
              once all are connected (at most --connect-timeout s, default 30), waits for the first
              `broadcast` (at most --wait s, default 60), then skips --warmup s (default 1) and
              counts for --duration s (default 5, at most 120), then keeps receiving for --drain s
              (default 1) to see the backlog, and disconnects every client.
    Only ws://127.0.0.0/8 and ws://localhost URLs are accepted.
    """

func fail(_ message: String) -> Never {
    let text = "parley-client-bench: \(message)\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
    exit(2)
}

func log(_ message: String) {
    let text = "parley-client-bench: \(message)\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

/// Microseconds of CLOCK_MONOTONIC: the clock wsload writes into `_t`.
@inline(__always)
func monotonicMicros() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000 &+ UInt64(now.tv_nsec) / 1000
}

/// Seconds of CPU this process used (all threads), user + system.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func sleepMicros(_ micros: UInt64) {
    var request = timespec(tv_sec: Int(micros / 1_000_000), tv_nsec: Int(micros % 1_000_000) * 1000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

// MARK: Arguments

struct Arguments {
    var mode = ""
    var url = ""
    var duration = 5.0
    var warmup = 1.0
    var drain = 1.0
    var count = 0
    var clients = 1000
    var loops: Int?
    var via = "event"
    var connectTimeout = 30.0
    var wait = 60.0
}

func parseArguments(_ arguments: [String]) -> Arguments {
    var parsed = Arguments()
    var rest = arguments[...]
    guard let mode = rest.popFirst(), mode == "echo" || mode == "receive" else { fail("a mode is needed: echo or receive\n\(usage)") }
    parsed.mode = mode
    func value(_ flag: String) -> String {
        guard let next = rest.popFirst() else { fail("\(flag) needs a value") }
        return next
    }
    func number(_ flag: String, _ range: ClosedRange<Double>) -> Double {
        guard let number = Double(value(flag)), range.contains(number) else {
            fail("\(flag) takes \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
    while let argument = rest.popFirst() {
        switch argument {
        case "--url": parsed.url = value(argument)
        case "--duration": parsed.duration = number(argument, 0.1...120)
        case "--warmup": parsed.warmup = number(argument, 0...60)
        case "--drain": parsed.drain = number(argument, 0...30)
        case "--count": parsed.count = Int(number(argument, 1...100_000_000))
        case "--clients": parsed.clients = Int(number(argument, 1...20_000))
        case "--loops": parsed.loops = Int(number(argument, 1...64))
        case "--connect-timeout": parsed.connectTimeout = number(argument, 1...120)
        case "--wait": parsed.wait = number(argument, 1...300)
        case "--via":
            parsed.via = value(argument)
            guard parsed.via == "event" || parsed.via == "ack" else { fail("--via takes event or ack") }
        case "-h", "--help":
            print(usage)
            exit(0)
        default: fail("unknown option \(argument)\n\(usage)")
        }
    }
    guard !parsed.url.isEmpty else { fail("--url is required\n\(usage)") }
    guard isLoopback(parsed.url) else { fail("refusing \(parsed.url): only ws://127.0.0.0/8 or ws://localhost") }
    return parsed
}

/// Whether `url` is `ws://` to 127.0.0.0/8 or localhost (any port and path).
func isLoopback(_ url: String) -> Bool {
    guard url.hasPrefix("ws://") else { return false }
    let rest = url.dropFirst(5)
    let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
    guard !authority.contains("@") else { return false }
    let host = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
    if host.lowercased() == "localhost" { return true }
    let octets = host.split(separator: ".", omittingEmptySubsequences: false)
    let values = octets.compactMap { $0.count <= 3 && $0.allSatisfy(\.isASCII) ? Int($0) : nil }
    guard octets.count == 4, values.count == 4, values.allSatisfy({ (0...255).contains($0) }) else { return false }
    return values[0] == 127
}

// MARK: Histogram

/// Log-linear histogram of microseconds: exact below 128, then 64 sub-buckets per power of two
/// (≤ 1.6% error), like wsload's.
struct Histogram {
    static let bucketCount = 59 * 64
    var buckets = [UInt64](repeating: 0, count: Histogram.bucketCount)
    var count: UInt64 = 0
    var sum: UInt64 = 0
    var max: UInt64 = 0

    @inline(__always)
    static func index(_ value: UInt64) -> Int {
        if value < 128 { return Int(value) }
        let msb = 63 - value.leadingZeroBitCount
        let shift = msb - 6
        return (shift + 1) * 64 + Int(value >> UInt64(shift)) - 64
    }

    /// The middle of bucket `index`.
    static func value(_ index: Int) -> UInt64 {
        if index < 128 { return UInt64(index) }
        let shift = index / 64 - 1
        let base = UInt64(index % 64 + 64) << UInt64(shift)
        return base + (UInt64(1) << UInt64(shift)) / 2
    }

    @inline(__always)
    mutating func add(_ value: UInt64) {
        buckets[Self.index(value)] &+= 1
        count &+= 1
        sum &+= value
        if value > max { max = value }
    }

    mutating func merge(_ other: Histogram) {
        for index in 0..<Self.bucketCount where other.buckets[index] != 0 { buckets[index] &+= other.buckets[index] }
        count &+= other.count
        sum &+= other.sum
        max = Swift.max(max, other.max)
    }

    func percentile(_ fraction: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(UInt64(1), UInt64((Double(count) * fraction).rounded(.up)))
        var seen: UInt64 = 0
        for index in 0..<Self.bucketCount {
            seen &+= buckets[index]
            if seen >= rank { return Swift.min(Self.value(index), max) }
        }
        return max
    }

    /// `{"min"...}`-less summary as JSON: mean, p50, p90, p99, p999, max.
    var json: String {
        let mean = count > 0 ? Double(sum) / Double(count) : 0
        return "{\"mean\":\(Int(mean.rounded())),\"p50\":\(percentile(0.5)),\"p90\":\(percentile(0.9)),\"p99\":\(percentile(0.99)),"
            + "\"p999\":\(percentile(0.999)),\"max\":\(max)}"
    }
}

// MARK: The echo data

/// The data of wsload's 64-byte envelope message: `{"event":"echo","data":` + this + `}`.
let echoData = RawJSON(unchecked: Array(#"{"_t":1000000000000000,"pad":"abcdefgh"}"#.utf8))

/// Finds `"_t":<digits>` in `bytes` (as wsload's receivers do) and returns the digits' value.
@inline(__always)
func sendTimestamp(_ bytes: [UInt8]) -> UInt64? {
    bytes.withUnsafeBufferPointer { buffer -> UInt64? in
        let count = buffer.count
        var i = 0
        while i + 4 < count {
            if buffer[i] == UInt8(ascii: "\"") && buffer[i + 1] == UInt8(ascii: "_") && buffer[i + 2] == UInt8(ascii: "t")
                && buffer[i + 3] == UInt8(ascii: "\"") {
                var j = i + 4
                while j < count && (buffer[j] == 0x20 || buffer[j] == 0x09) { j += 1 }
                guard j < count, buffer[j] == UInt8(ascii: ":") else { return nil }
                j += 1
                while j < count && (buffer[j] == 0x20 || buffer[j] == 0x09) { j += 1 }
                var value: UInt64 = 0
                var digits = 0
                while j < count, digits < 19, buffer[j] >= 0x30, buffer[j] <= 0x39 {
                    value = value &* 10 &+ UInt64(buffer[j] - 0x30)
                    j += 1
                    digits += 1
                }
                guard digits == 16, value >= 1_000_000_000_000_000 else { return nil }
                return value - 1_000_000_000_000_000
            }
            i += 1
        }
        return nil
    }
}

// MARK: echo

/// The state of the window-1 echo loop, shared by the main thread and the client's loop thread.
final class EchoRun: Sendable {
    struct State {
        var sentAt: UInt64 = 0
        var measureStart: UInt64 = 0
        var measureEnd: UInt64 = 0
        var histogram = Histogram()
        var warmupReplies = 0
        var unexpected = 0
        var lastMeasured: UInt64 = 0
        var done = false
    }

    let state = Mutex(State())
    let countLimit: Int

    init(countLimit: Int) { self.countLimit = countLimit }

    /// A reply arrived at `now`: records it; returns whether to send the next one.
    func replied(at now: UInt64) -> Bool {
        state.withLock { state in
            guard !state.done else { state.unexpected += 1; return false }
            let rtt = now &- state.sentAt
            if now >= state.measureStart && now < state.measureEnd {
                state.histogram.add(rtt)
                state.lastMeasured = now
                if countLimit > 0 && state.histogram.count >= UInt64(countLimit) { state.done = true }
            } else if now < state.measureStart {
                state.warmupReplies += 1
            }
            if now >= state.measureEnd { state.done = true }
            if state.done { return false }
            state.sentAt = monotonicMicros()
            return true
        }
    }
}

func runEcho(_ arguments: Arguments) {
    var options = Client.Options()
    options.autoConnect = false
    options.reconnection = false
    if let loops = arguments.loops { options.group = EventLoopGroup(loopCount: loops, name: "bench-client") }
    let client = Client(url: arguments.url, options: options)
    let connected = Atomic<Bool>(false)
    let disconnects = Atomic<Int>(0)
    let connectErrors = Mutex<[String]>([])
    let run = EchoRun(countLimit: arguments.count)
    client.on(.connect) { connected.store(true, ordering: .releasing) }
    client.on(.disconnect) { _ in disconnects.add(1, ordering: .relaxed) }
    client.on(.connectError) { error in connectErrors.withLock { $0.append(error.message) } }
    if arguments.via == "event" {
        client.on("echo") { [weak client] (_: RawJSON) in
            if run.replied(at: monotonicMicros()) { _ = try? client?.emit("echo", echoData) }
        }
    }
    client.connect()

    let connectDeadline = monotonicMicros() + UInt64(arguments.connectTimeout * 1e6)
    while !connected.load(ordering: .acquiring) {
        guard monotonicMicros() < connectDeadline else {
            fail("not connected after \(arguments.connectTimeout) s: \(connectErrors.withLock { $0 })")
        }
        sleepMicros(1000)
    }

    let start = monotonicMicros()
    let measureStart = start + UInt64(arguments.warmup * 1e6)
    let measureEnd = measureStart + UInt64(arguments.duration * 1e6)
    run.state.withLock {
        $0.measureStart = measureStart
        $0.measureEnd = measureEnd
        $0.sentAt = monotonicMicros()
    }
    let cpuStart = processCPUSeconds()
    let timedOut = Atomic<Int>(0)
    if arguments.via == "event" {
        _ = try? client.emit("echo", echoData)
    } else {
        // One task, one emitWithAck at a time: the async round trip an application would write.
        Task.detached {
            while true {
                do {
                    let _: RawJSON = try await client.emitWithAck("echo", echoData, timeout: .seconds(5))
                } catch {
                    timedOut.add(1, ordering: .relaxed)
                    if monotonicMicros() >= measureEnd { break }
                    continue
                }
                if !run.replied(at: monotonicMicros()) { break }
            }
        }
    }
    // Wait for the window's end (or --count), with a hard cap 5 s past it.
    let hardDeadline = measureEnd + 5_000_000
    // The main thread stays asleep during the window (a poll now and then would wake a core
    // that the loop thread may be using), then polls for the last reply.
    while !run.state.withLock({ $0.done }) && monotonicMicros() < hardDeadline {
        let now = monotonicMicros()
        sleepMicros(now < measureEnd ? min(measureEnd - now, arguments.count > 0 ? 50_000 : 1_000_000) : 2000)
    }
    let cpu = processCPUSeconds() - cpuStart
    let finished = monotonicMicros()
    let state = run.state.withLock { state -> EchoRun.State in
        state.done = true
        return state
    }
    let measuredSeconds: Double
    if arguments.count > 0 && state.histogram.count >= UInt64(arguments.count) {
        measuredSeconds = Double(state.lastMeasured - measureStart) / 1e6
    } else {
        measuredSeconds = arguments.duration
    }
    let rate = measuredSeconds > 0 ? Double(state.histogram.count) / measuredSeconds : 0
    let wallSeconds = Double(finished - start) / 1e6
    let droppedConnections = disconnects.load(ordering: .relaxed)
    client.disconnect()
    print("echo: \(Int(rate)) msgs/s over \(measuredSeconds) s (window 1, 1 client, via \(arguments.via)); "
        + "rtt p50 \(state.histogram.percentile(0.5)) us, p99 \(state.histogram.percentile(0.99)) us")
    print("RESULT {\"mode\":\"echo\",\"via\":\"\(arguments.via)\",\"msg_bytes\":64,\"window\":1,\"replies\":\(state.histogram.count),"
        + "\"warmup_replies\":\(state.warmupReplies),\"measured_s\":\(measuredSeconds),\"msgs_per_s\":\(rate),"
        + "\"latency_us\":\(state.histogram.json),\"disconnects\":\(droppedConnections),"
        + "\"ack_failures\":\(timedOut.load(ordering: .relaxed)),\"cpu_s\":\(cpu),\"cpu_pct\":\(wallSeconds > 0 ? 100 * cpu / wallSeconds : 0)}")
    fflush(nil)
}

// MARK: receive

/// Delivery statistics, striped by client so that the loop threads rarely meet on one lock.
final class ReceiveStats: Sendable {
    static let stripeCount = 16

    /// One lock's share of the figures (a class: a `Mutex` cannot sit in an array).
    final class Locked: Sendable {
        let state: Mutex<Stripe>
        init(_ stripe: Stripe) { state = Mutex(stripe) }
    }

    struct Stripe {
        var window = Histogram()
        /// Latency of every arrival by second since the first one (warmup, window, drain).
        var perSecond: [Histogram]
        var total: UInt64 = 0
        var noTimestamp: UInt64 = 0
    }

    let stripes: [Locked]
    /// First arrival (µs CLOCK_MONOTONIC); 0 until then.
    let first = Atomic<UInt64>(0)
    let measureFrom: UInt64
    let measureTo: UInt64
    let seconds: Int

    init(warmup: Double, duration: Double, drain: Double) {
        measureFrom = UInt64(warmup * 1e6)
        measureTo = measureFrom + UInt64(duration * 1e6)
        let seconds = Int((warmup + duration + drain).rounded(.up)) + 1
        self.seconds = seconds
        stripes = (0..<Self.stripeCount).map { _ in Locked(Stripe(perSecond: Array(repeating: Histogram(), count: seconds))) }
    }

    @inline(__always)
    func received(_ data: RawJSON, client: Int) {
        let now = monotonicMicros()
        var start = first.load(ordering: .relaxed)
        if start == 0 {
            start = first.compareExchange(expected: 0, desired: now, ordering: .relaxed).exchanged ? now : first.load(ordering: .relaxed)
        }
        let sent = sendTimestamp(data.bytes)
        let relative = now >= start ? now - start : 0
        let latency = sent.map { now >= $0 ? now - $0 : 0 }
        stripes[client % Self.stripeCount].state.withLock { stripe in
            stripe.total &+= 1
            guard let latency else { stripe.noTimestamp &+= 1; return }
            if relative >= measureFrom && relative < measureTo { stripe.window.add(latency) }
            let second = Int(relative / 1_000_000)
            if second < stripe.perSecond.count { stripe.perSecond[second].add(latency) }
        }
    }

    func merged() -> Stripe {
        var merged = Stripe(perSecond: Array(repeating: Histogram(), count: seconds))
        for stripe in stripes {
            stripe.state.withLock { stripe in
                merged.window.merge(stripe.window)
                for index in stripe.perSecond.indices { merged.perSecond[index].merge(stripe.perSecond[index]) }
                merged.total &+= stripe.total
                merged.noTimestamp &+= stripe.noTimestamp
            }
        }
        return merged
    }
}

func runReceive(_ arguments: Arguments) {
    let group = EventLoopGroup(loopCount: arguments.loops ?? EventLoopGroup.coreCount, name: "bench-client")
    var options = Client.Options()
    options.autoConnect = false
    options.group = group
    let stats = ReceiveStats(warmup: arguments.warmup, duration: arguments.duration, drain: arguments.drain)
    let connected = Atomic<Int>(0)
    let disconnects = Atomic<Int>(0)
    let connectErrors = Atomic<Int>(0)
    let connectStart = monotonicMicros()
    var clients: [Client] = []
    clients.reserveCapacity(arguments.clients)
    for index in 0..<arguments.clients {
        let client = Client(url: arguments.url, options: options)
        client.on(.connect) { connected.add(1, ordering: .relaxed) }
        client.on(.disconnect) { _ in
            connected.subtract(1, ordering: .relaxed)
            disconnects.add(1, ordering: .relaxed)
        }
        client.on(.connectError) { _ in connectErrors.add(1, ordering: .relaxed) }
        client.on("broadcast") { (data: RawJSON) in stats.received(data, client: index) }
        clients.append(client)
    }
    for client in clients { client.connect() }

    let connectDeadline = connectStart + UInt64(arguments.connectTimeout * 1e6)
    while connected.load(ordering: .relaxed) < arguments.clients && monotonicMicros() < connectDeadline { sleepMicros(2000) }
    let connectSeconds = Double(monotonicMicros() - connectStart) / 1e6
    let ready = connected.load(ordering: .relaxed)
    guard ready > 0 else { fail("no client connected within \(arguments.connectTimeout) s (\(connectErrors.load(ordering: .relaxed)) connect errors)") }
    print("READY connected=\(ready) in \(format2(connectSeconds)) s")
    fflush(nil)

    // Wait for the first broadcast, then for the window and the drain.
    let waitDeadline = monotonicMicros() + UInt64(arguments.wait * 1e6)
    while stats.first.load(ordering: .relaxed) == 0 && monotonicMicros() < waitDeadline { sleepMicros(1000) }
    let first = stats.first.load(ordering: .relaxed)
    var cpu = 0.0
    var disconnectsInWindow = 0
    if first != 0 {
        let windowStart = first + stats.measureFrom
        let windowEnd = first + stats.measureTo
        let drainEnd = windowEnd + UInt64(arguments.drain * 1e6)
        while monotonicMicros() < windowStart { sleepMicros(1000) }
        let cpuStart = processCPUSeconds()
        let disconnectsStart = disconnects.load(ordering: .relaxed)
        while monotonicMicros() < windowEnd { sleepMicros(1000) }
        cpu = processCPUSeconds() - cpuStart
        disconnectsInWindow = disconnects.load(ordering: .relaxed) - disconnectsStart
        while monotonicMicros() < drainEnd { sleepMicros(1000) }
    } else {
        log("no broadcast arrived within \(arguments.wait) s")
    }
    let stillConnected = connected.load(ordering: .relaxed)
    let merged = stats.merged()

    // Disconnect everyone and wait (at most 5 s) for the disconnect events.
    let closeStart = monotonicMicros()
    let disconnectsBefore = disconnects.load(ordering: .relaxed)
    for client in clients { client.disconnect() }
    while disconnects.load(ordering: .relaxed) - disconnectsBefore < stillConnected && monotonicMicros() < closeStart + 5_000_000 {
        sleepMicros(2000)
    }
    let closed = disconnects.load(ordering: .relaxed) - disconnectsBefore

    let window = merged.window
    let rate = Double(window.count) / arguments.duration
    let perSecond = merged.perSecond.map { "{\"n\":\($0.count),\"p50\":\($0.percentile(0.5)),\"p99\":\($0.percentile(0.99)),\"max\":\($0.max)}" }
    print("receive: \(ready)/\(arguments.clients) connected in \(format2(connectSeconds)) s on \(group.loops.count) loop(s); "
        + "\(Int(rate)) deliveries/s; fan-out p50 \(window.percentile(0.5)) us, p99 \(window.percentile(0.99)) us")
    for (second, histogram) in merged.perSecond.enumerated() where histogram.count > 0 {
        print("  second \(second): \(histogram.count) deliveries, p50 \(histogram.percentile(0.5)) us, p99 \(histogram.percentile(0.99)) us, max \(histogram.max) us")
    }
    print("RESULT {\"mode\":\"receive\",\"clients\":\(arguments.clients),\"loops\":\(group.loops.count),\"connected\":\(ready),"
        + "\"connect_s\":\(connectSeconds),\"connect_errors\":\(connectErrors.load(ordering: .relaxed)),"
        + "\"still_connected\":\(stillConnected),\"disconnects_in_window\":\(disconnectsInWindow),\"closed\":\(closed),"
        + "\"duration_s\":\(arguments.duration),\"deliveries\":\(window.count),\"deliveries_per_s\":\(rate),"
        + "\"deliveries_total\":\(merged.total),\"no_timestamp\":\(merged.noTimestamp),\"latency_us\":\(window.json),"
        + "\"per_second\":[\(perSecond.joined(separator: ","))],\"cpu_s\":\(cpu),\"cpu_pct\":\(100 * cpu / arguments.duration)}")
    fflush(nil)
    withExtendedLifetime(clients) {}
}

func format2(_ value: Double) -> String {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

// MARK: Main

let arguments = parseArguments(Array(CommandLine.arguments.dropFirst()))
// A hard stop whatever happens: every phase's cap plus a margin.
alarm(UInt32(arguments.connectTimeout + arguments.wait + arguments.warmup + arguments.duration + arguments.drain + 30))
switch arguments.mode {
case "echo": runEcho(arguments)
default: runReceive(arguments)
}
exit(0)
