/// When a server gives freed memory back to the system (see `releaseFreeMemory()`): after
/// its load has dropped a lot, never more often than ``minimumInterval``. Pure: the server
/// feeds it a sample every ``sampleInterval`` and trims when it says so.
///
/// A drop is many connections gone (at least ``connectionDrop`` and half of the peak) or much
/// buffered data released (at least ``bufferedDrop`` bytes and three quarters of the peak),
/// measured from the peak since the last trim. Steady load, however large, never trims.
struct MemoryTrimPolicy: Sendable {
    /// How often the server samples. 5 s: a burst's memory is back within seconds, and the
    /// sample (two relaxed loads) costs nothing.
    static let sampleInterval: Duration = .seconds(5)
    /// The least time between trims, 30 s: a trim walks the heap, which churn must not repeat.
    static let minimumInterval: Duration = .seconds(30)
    /// Connections gone that count as a drop: 1,000 (a few MiB of connection state).
    static let connectionDrop = 1_000
    /// Buffered bytes released that count as a drop: 64 MiB.
    static let bufferedDrop = 64 << 20

    private var peakConnections = 0
    private var peakBuffered = 0
    private var lastTrim: ContinuousClock.Instant?

    init() {}

    /// Takes a sample; true when memory should be given back now (the peaks then restart from
    /// this sample).
    mutating func shouldTrim(connections: Int, bufferedBytes: Int, now: ContinuousClock.Instant) -> Bool {
        peakConnections = max(peakConnections, connections)
        peakBuffered = max(peakBuffered, bufferedBytes)
        let connectionsDropped = peakConnections - connections >= Self.connectionDrop && connections <= peakConnections / 2
        let bufferDropped = peakBuffered - bufferedBytes >= Self.bufferedDrop && bufferedBytes <= peakBuffered / 4
        guard connectionsDropped || bufferDropped else { return false }
        if let lastTrim, now - lastTrim < Self.minimumInterval { return false }
        lastTrim = now
        peakConnections = connections
        peakBuffered = bufferedBytes
        return true
    }
}
