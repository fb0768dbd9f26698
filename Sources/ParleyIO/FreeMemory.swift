import CParleySystem

/// Gives the allocator's free memory back to the system (glibc `malloc_trim(0)` on Linux; a
/// no-op elsewhere). After a burst the allocator keeps the freed pages for reuse, so the
/// resident size stays at its peak; this returns them. It walks every arena, which can take a
/// few milliseconds on a large heap: call it off the event loops.
/// - Returns: whether memory was released.
@discardableResult
package func releaseFreeMemory() -> Bool {
    cps_release_free_memory() == 1
}
