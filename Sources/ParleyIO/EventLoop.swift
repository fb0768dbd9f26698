import CParleySystem
import Foundation
import Synchronization

/// Something that receives readiness events from an ``EventLoop``. Called on the loop's thread.
package protocol Selectable: AnyObject {
    /// `events`: what the descriptor is ready for (see ``IOEvents``).
    func handleEvents(_ events: IOEvents)
}

/// One thread, one poller (epoll or poll, see ``IOBackend``): every socket registered here is
/// read and written only on this thread, so its state needs no lock.
///
/// Other threads hand work over with ``execute(_:)``: a locked queue plus a wake-up (an
/// eventfd, or a pipe with poll), coalesced so a burst of hand-offs costs one wake-up. Timers
/// run on the loop too.
///
/// `@unchecked Sendable`: every stored `var` is touched only on the loop thread, except
/// `tasks` and `wakeupArmed`, which are synchronised (`Mutex`, `Atomic`).
///
/// `@exclusivity(unchecked)` on the loop-confined `var`s: each is read or written in single
/// statements (never held across a call that could reach it again), so accesses never overlap,
/// and the runtime check Swift would otherwise make per access (about a fifth of the
/// instructions of a small message's round trip) buys nothing.
/// A connection with bytes queued during this loop iteration, written at its end (see
/// ``EventLoop/pendingFlush``): many frames queued by one iteration's events go out in one write.
package protocol Flushable: AnyObject {
    /// Writes what is queued. Called on the loop thread.
    func flush()
}

public final class EventLoop: @unchecked Sendable {
    /// Size of the receive buffer the loop shares among all its connections. 64 KiB: a few
    /// dozen frames per read under load, and idle connections hold no buffer of their own.
    package static let readBufferSize = 64 * 1024

    /// The readiness mechanism this loop waits with: ``IOBackend/epoll`` or ``IOBackend/poll``.
    public let backend: IOBackend
    private let poller: Poller
    private let wakeup: Wakeup
    private let tasks = Mutex<[@Sendable () -> Void]>([])
    private let wakeupArmed = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    /// The handler of each registered descriptor, indexed by descriptor: 16 bytes a slot. A
    /// slot spans every descriptor of the process below the highest registered here, so each
    /// loop's table is as long as the highest descriptor; it holds nothing else (see
    /// ``deregister(_:)`` for how a reused descriptor is told from its predecessor).
    @exclusivity(unchecked) private var registrations: [Selectable?] = []
    /// The events of the current wait (see ``run()``): `batchNext..<batchCount` are still to be
    /// handled, and ``deregister(_:)`` voids those of a descriptor it stops watching.
    @exclusivity(unchecked) private var batch: UnsafeMutablePointer<cps_event>?
    @exclusivity(unchecked) private var batchNext = 0
    @exclusivity(unchecked) private var batchCount = 0
    @exclusivity(unchecked) private var timers = TimerQueue()
    /// Deadlines by fixed delay (see ``setDeadline(after:for:)``); at most ``maxDeadlineQueues``.
    @exclusivity(unchecked) private var deadlineQueues: [DeadlineQueue] = []
    /// No deadline of `deadlineQueues` is earlier than this (it may be earlier than every
    /// live one after cancellations: the loop then wakes once for nothing).
    @exclusivity(unchecked) private var earliestDeadline = UInt64.max
    /// The deadlines due in this iteration (kept between iterations: no allocation per sweep).
    @exclusivity(unchecked) private var dueDeadlines: [(target: any DeadlineTarget, raw: UInt64)] = []
    @exclusivity(unchecked) private var running = true
    /// Connections with queued bytes to write at the end of this loop iteration.
    @exclusivity(unchecked) package var pendingFlush: [any Flushable] = []
    /// Streams to read again in this iteration although the poller will not report them: a TLS
    /// session holds records it read ahead (see ``readAgain(_:)``).
    @exclusivity(unchecked) private var pendingReads: [Int32] = []
    /// The streams being read again (see ``readPending()``).
    @exclusivity(unchecked) private var rereading: [Int32] = []
    /// The connections being flushed (see ``flushPending()``).
    @exclusivity(unchecked) private var flushing: [any Flushable] = []
    /// Written-out send chunks kept for reuse, so a busy connection does not allocate per frame.
    @exclusivity(unchecked) private var chunkPool: [ByteChunk] = []
    /// Chunks kept in the pool at most: 256 × 4 KiB = 1 MiB per loop. Every connection that
    /// answers within one iteration holds a chunk until the iteration's writes, so this is how
    /// many can do so without a 4 KiB allocation and free each (a few hundred instructions per
    /// small message); kept only once traffic has needed them.
    static let chunkPoolLimit = 256
    /// The shared receive buffer (see ``readBufferSize``).
    package let readBuffer: UnsafeMutableRawBufferPointer

    /// Random bytes for client masking keys, refilled from the kernel 4 KiB at a time
    /// (RFC 6455 10.3: keys must be unpredictable; one getrandom per 1,024 frames).
    @exclusivity(unchecked) private var randomPool = [UInt8](repeating: 0, count: 4096)
    @exclusivity(unchecked) private var randomOffset = 4096

    /// The token of the wake-up; a descriptor's token is the descriptor, below 2^32.
    private static let wakeToken = UInt64.max
    /// The token of an event voided by ``deregister(_:)``.
    private static let voidToken = UInt64.max - 1

    /// Creates a loop and starts its thread.
    /// - Parameters:
    ///   - name: the thread name, for debuggers and `top -H`.
    ///   - backend: the poller to wait with (resolved here: see ``IOBackend/automatic``).
    init(name: String, backend: IOBackend) {
        // Without a poller or a wake-up a loop cannot run at all: the process is out of
        // descriptors before serving anything, a condition no caller could handle better.
        do {
            poller = try Poller(backend: backend)
            wakeup = try Wakeup(portable: poller.backend == .poll)
        } catch {
            fatalError("parley: cannot create an event loop (\(String(cString: strerror(error.code))))")
        }
        self.backend = poller.backend
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readBufferSize, alignment: 16)
        _ = poller.register(wakeup.readFD, interest: .read, token: Self.wakeToken)
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        readBuffer.deallocate()
        poller.close()
        wakeup.close()
    }

    /// Whether the caller is running on this loop's thread.
    public var inEventLoop: Bool {
        // A thread-local pointer set by the loop thread itself: no lock, no atomic.
        cps_current_loop() == Unmanaged.passUnretained(self).toOpaque()
    }

    /// Runs `task` on the loop thread, after the events being handled now.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        tasks.withLock { $0.append(task) }
        if !wakeupArmed.exchange(true, ordering: .acquiringAndReleasing) {
            wakeup.signal()
        }
    }

    /// Runs `task` on the loop thread after `delay`. Thread-safe.
    ///
    /// ```swift
    /// let deadline = loop.execute(after: .seconds(5)) { print("too late") }
    /// deadline.cancel()   // the answer came: the task never runs, and is released now
    /// ```
    /// - Returns: a handle whose ``Scheduled/cancel()`` stops the task if it has not run yet.
    @discardableResult
    public func execute(after delay: Duration, _ task: @escaping @Sendable () -> Void) -> Scheduled {
        let scheduled = Scheduled(loop: self)
        if inEventLoop {
            scheduled.arm(after: delay, task)
        } else {
            execute { scheduled.arm(after: delay, task) }
        }
        return scheduled
    }

    /// Runs `body` on the loop thread after `delay`. Call on the loop thread.
    @discardableResult
    package func schedule(after delay: Duration, _ body: @escaping () -> Void) -> TimerID {
        timers.schedule(at: monotonicNanoseconds() &+ delay.nanoseconds, body)
    }

    /// Cancels a timer that has not fired. Call on the loop thread.
    package func cancel(_ timer: TimerID) {
        timers.cancel(timer)
    }

    /// Distinct delays with a queue of their own; deadlines of further delays are ordinary
    /// timers. 255: a deadline's queue is one byte of its ``Deadline``.
    static let maxDeadlineQueues = 255

    /// Calls `target.deadlineReached(_:)` on the loop thread `delay` from now, unless
    /// cancelled first. Call on the loop thread.
    ///
    /// For deadlines that many objects of a loop set with the same few delays (a connection's
    /// ping and close deadlines): they wait in one first-in-first-out queue per delay, 16 bytes
    /// each, instead of a timer, a closure and a heap entry each; the loop sweeps the due ones
    /// once per iteration. A deadline fires at its time, to the millisecond the loop waits in.
    /// The loop holds `target` until the deadline fires or is cancelled.
    ///
    /// ```swift
    /// pingDeadline = loop.setDeadline(after: .seconds(20), for: self)
    /// loop.cancel(pingDeadline)   // the pong came
    /// ```
    package func setDeadline(after delay: Duration, for target: any DeadlineTarget) -> Deadline {
        let nanoseconds = delay.nanoseconds
        let now = monotonicNanoseconds()
        var index = deadlineQueues.firstIndex { $0.delay == nanoseconds }
        if index == nil, let empty = deadlineQueues.firstIndex(where: { $0.isEmpty }) {
            deadlineQueues[empty].delay = nanoseconds  // an idle queue takes the new delay
            index = empty
        }
        if index == nil, deadlineQueues.count < Self.maxDeadlineQueues {
            deadlineQueues.append(DeadlineQueue(delay: nanoseconds))
            index = deadlineQueues.count - 1
        }
        guard let index else {
            // Every queue busy with another delay: an ordinary timer (queue byte 0xFF).
            let slot = DeadlineSlot()
            let timer = timers.schedule(at: now &+ nanoseconds) { [slot] in target.deadlineReached(slot.deadline) }
            slot.deadline = Deadline(raw: 0xFF << 56 | timer.value)
            return slot.deadline
        }
        let sequence = deadlineQueues[index].append(target, now: now)
        earliestDeadline = min(earliestDeadline, now &+ nanoseconds)
        return Deadline(raw: UInt64(index + 1) << 56 | (sequence & Self.sequenceMask))
    }

    /// Cancels a deadline that has not come (``Deadline/none`` and past ones are ignored).
    /// Call on the loop thread.
    package func cancel(_ deadline: Deadline) {
        let queue = Int(deadline.raw >> 56)
        let sequence = deadline.raw & Self.sequenceMask
        if queue == 0xFF {
            timers.cancel(TimerID(value: sequence))
        } else if queue > 0, queue <= deadlineQueues.count {
            deadlineQueues[queue - 1].cancel(sequence)
        }
    }

    /// The sequence bits of a ``Deadline`` (queues never number 2^56 deadlines).
    private static let sequenceMask: UInt64 = 1 << 56 - 1

    /// Calls the targets of the deadlines due at `now`. A target may get a deadline it has
    /// just cancelled, from an earlier callback of the same sweep: targets compare the
    /// deadline with the one they hold.
    private func sweepDeadlines(now: UInt64) {
        var earliest = UInt64.max
        for index in deadlineQueues.indices {
            deadlineQueues[index].popDue(now: now, tag: UInt64(index + 1) << 56, into: &dueDeadlines)
            if let next = deadlineQueues[index].nextDeadline { earliest = min(earliest, next) }
        }
        earliestDeadline = earliest
        guard !dueDeadlines.isEmpty else { return }
        let due = dueDeadlines
        dueDeadlines.removeAll(keepingCapacity: due.count <= 1024)
        for (target, raw) in due { target.deadlineReached(Deadline(raw: raw)) }
    }

    /// Adds a connection to ``pendingFlush``. A method: another module appending to the stored
    /// array directly would make the runtime exclusivity check that this module skips.
    package func scheduleFlush(_ connection: any Flushable) {
        pendingFlush.append(connection)
    }

    /// A send chunk of ``ByteChunk/standardCapacity`` bytes, empty, from the pool if one is free.
    package func takeChunk() -> ByteChunk {
        if let chunk = chunkPool.popLast() {
            chunk.reset()
            return chunk
        }
        return ByteChunk(capacity: ByteChunk.standardCapacity)
    }

    /// Returns a written-out chunk to the pool (callers pass only chunks no one else holds).
    package func recycle(_ chunk: ByteChunk) {
        if chunkPool.count < Self.chunkPoolLimit { chunkPool.append(chunk) }
    }

    /// A fresh masking key for a client frame. Call on the loop thread.
    package func nextMaskKey() -> (UInt8, UInt8, UInt8, UInt8) {
        if randomOffset + 4 > randomPool.count {
            randomPool.withUnsafeMutableBytes { _ = cps_random_bytes($0.baseAddress, $0.count) }
            randomOffset = 0
        }
        defer { randomOffset += 4 }
        return (randomPool[randomOffset], randomPool[randomOffset + 1], randomPool[randomOffset + 2], randomPool[randomOffset + 3])
    }

    /// Registers `fd` for `interest`; the loop then calls `handler` with its readiness.
    /// - Parameter exclusive: `fd` is watched by several loops (a shared listening socket):
    ///   wake one of them per event (epoll; see ``sharesListenersExclusively``).
    /// - Returns: false when the poller refused (errno says why).
    package func register(_ fd: Int32, interest: IOEvents, exclusive: Bool = false, handler: Selectable) -> Bool {
        let index = Int(fd)
        if index >= registrations.count { growRegistrations(toInclude: index) }
        registrations[index] = handler
        let status = poller.register(fd, interest: interest, token: Self.token(fd), exclusive: exclusive)
        if status != 0 {
            registrations[index] = nil
            errno = status
        }
        return status == 0
    }

    /// Makes room for descriptor `index` and a quarter more (not double: at 10,000 connections
    /// doubling would leave up to 160 KB unused per loop).
    private func growRegistrations(toInclude index: Int) {
        var grown: [Selectable?] = []
        grown.reserveCapacity(max(index + 1, registrations.count + registrations.count / 4, 64))
        grown.append(contentsOf: registrations)
        grown.append(contentsOf: repeatElement(nil, count: grown.capacity - grown.count))
        registrations = grown
    }

    /// Whether several loops can watch one listening socket and be woken one per connection
    /// (epoll's exclusive wake-ups). Without it (poll), one loop should accept for all.
    package var sharesListenersExclusively: Bool { backend == .epoll }

    /// Hands `fd` to another handler without touching the poller (e.g. handshake -> WebSocket).
    package func replaceHandler(_ fd: Int32, with handler: Selectable) {
        guard registrations[Int(fd)] != nil else { return }
        registrations[Int(fd)] = handler
    }

    /// Changes what `fd` is watched for.
    package func modify(_ fd: Int32, interest: IOEvents) {
        guard registrations[Int(fd)] != nil else { return }
        poller.modify(fd, interest: interest, token: Self.token(fd))
    }

    /// Stops watching `fd` (before it is closed).
    ///
    /// Events are matched to handlers by descriptor alone, and a closed descriptor's number is
    /// soon another connection's: so the events of `fd` still to be handled in this iteration
    /// (from the current wait, or asked for by ``readAgain(_:)``) are voided here, and no event
    /// of the closed connection can reach the one that reuses its number.
    package func deregister(_ fd: Int32) {
        guard Int(fd) < registrations.count else { return }
        registrations[Int(fd)] = nil
        poller.deregister(fd)
        if let batch, batchNext < batchCount {
            let token = Self.token(fd)
            for index in batchNext..<batchCount where batch[index].token == token { batch[index].token = Self.voidToken }
        }
        if !pendingReads.isEmpty { pendingReads.removeAll { $0 == fd } }
        if !rereading.isEmpty {
            for index in rereading.indices where rereading[index] == fd { rereading[index] = -1 }
        }
    }

    /// Calls `fd`'s handler with ``IOEvents/read`` once more in this iteration, after the
    /// poller's events: its transport holds input the descriptor will not report (TLS records
    /// read ahead). A handler that already read it all just finds nothing. Call on the loop thread.
    @usableFromInline
    package func readAgain(_ fd: Int32) {
        guard Int(fd) < registrations.count, registrations[Int(fd)] != nil else { return }
        pendingReads.append(fd)
    }

    /// Every handler registered on this loop. Call on the loop thread.
    package var handlers: [Selectable] { registrations.compactMap { $0 } }

    /// Asks the loop to finish: it stops after the current iteration. Thread-safe.
    package func stop() {
        execute { [self] in running = false }
    }

    /// Waits until the loop thread has finished. Call after ``stop()``, from another thread.
    package func join() {
        finished.wait()
    }

    /// The ``Deadline`` of a timer standing in for a deadline queue, known once scheduled.
    private final class DeadlineSlot {
        var deadline = Deadline.none
    }

    private static func token(_ fd: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: fd))
    }

    private func run() {
        cps_set_current_loop(Unmanaged.passUnretained(self).toOpaque())
        let events = UnsafeMutablePointer<cps_event>.allocate(capacity: Poller.maxEvents)
        batch = events
        defer {
            batch = nil
            events.deallocate()
            finished.signal()
        }
        while running {
            var timeout: Int32 = -1
            if !pendingFlush.isEmpty || !pendingReads.isEmpty {
                timeout = 0
            } else if case let deadline = min(timers.nextDeadline() ?? .max, earliestDeadline), deadline != .max {
                let now = monotonicNanoseconds()
                // Round up to the next millisecond so a timer never fires early and spins.
                timeout = deadline <= now ? 0 : Int32(clamping: (deadline - now + 999_999) / 1_000_000)
            }
            batchCount = poller.wait(into: events, capacity: Poller.maxEvents, timeoutMilliseconds: timeout)
            batchNext = 0
            while batchNext < batchCount {
                let event = events[batchNext]
                batchNext += 1
                if event.token >= Self.voidToken {
                    if event.token == Self.wakeToken { wakeup.drain() }
                    continue
                }
                let fd = Int(event.token)
                guard fd < registrations.count, let handler = registrations[fd] else { continue }
                handler.handleEvents(IOEvents(rawValue: event.events))
            }
            batchCount = 0
            readPending()
            runTasks()
            if earliestDeadline != .max || !timers.isEmpty {
                let now = monotonicNanoseconds()
                if earliestDeadline <= now { sweepDeadlines(now: now) }
                if timers.nextDeadline().map({ $0 <= now }) ?? false {
                    for body in timers.popExpired(now: now) { body() }
                }
            }
            flushPending()
        }
    }

    private func runTasks() {
        wakeupArmed.store(false, ordering: .releasing)
        let batch = tasks.withLock { queue -> [@Sendable () -> Void] in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        for task in batch { task() }
    }

    /// Reads again what ``readAgain(_:)`` asked for; a read that leaves input behind again asks
    /// again, for the next iteration (so one stream cannot hold the loop).
    private func readPending() {
        guard !pendingReads.isEmpty else { return }
        swap(&rereading, &pendingReads)
        // By index: a handler may void later entries (``deregister(_:)``).
        var index = 0
        while index < rereading.count {
            let fd = Int(rereading[index])
            index += 1
            guard fd >= 0, fd < registrations.count, let handler = registrations[fd] else { continue }
            handler.handleEvents(.read)
        }
        rereading.removeAll(keepingCapacity: true)
    }

    /// Writes every connection's queued frames: one `writev` each, however many frames were
    /// queued while handling this iteration's events.
    private func flushPending() {
        while !pendingFlush.isEmpty {
            // Two arrays that trade places: no allocation per iteration. A flush may queue
            // another connection (into `pendingFlush`), handled by the next pass.
            swap(&flushing, &pendingFlush)
            for connection in flushing { connection.flush() }
            flushing.removeAll(keepingCapacity: true)
        }
    }
}
