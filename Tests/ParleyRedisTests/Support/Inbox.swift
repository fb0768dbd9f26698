import Foundation
import Synchronization
import XCTest

/// What the connection's handlers post (on the loop thread) and tests await with a timeout.
final class Inbox<Element: Sendable>: Sendable {
    private let state = Mutex<(items: [Element], waiter: (id: Int, continuation: CheckedContinuation<Element?, Never>)?, nextID: Int)>(([], nil, 0))

    func put(_ element: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, Never>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter.continuation
            }
            state.items.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// Elements not taken yet.
    var pending: [Element] { state.withLock { $0.items } }

    /// The next element; fails the test and throws when none comes within `timeout`. One waiter at a time.
    func next(_ what: String, timeout: Double = 5, file: StaticString = #filePath, line: UInt = #line) async throws -> Element {
        let element = await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
            let id = state.withLock { state -> Int? in
                if !state.items.isEmpty {
                    continuation.resume(returning: state.items.removeFirst())
                    return nil
                }
                state.nextID += 1
                state.waiter = (state.nextID, continuation)
                return state.nextID
            }
            guard let id else { return }
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in
                let expired = state.withLock { state -> CheckedContinuation<Element?, Never>? in
                    guard let waiter = state.waiter, waiter.id == id else { return nil }
                    state.waiter = nil
                    return waiter.continuation
                }
                expired?.resume(returning: nil)
            }
        }
        return try XCTUnwrap(element, "timed out after \(timeout) s waiting for \(what)", file: file, line: line)
    }
}
