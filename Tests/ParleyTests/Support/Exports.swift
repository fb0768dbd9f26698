// The loopback server helpers and the envelope client (shared with the cluster adapter tests)
// are visible in every file of this target.
@_exported import ParleyTestSupport
