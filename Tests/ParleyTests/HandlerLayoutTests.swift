import XCTest
@testable import Parley

final class HandlerLayoutTests: XCTestCase {
    private func entry(_ event: String, _ id: Int32, once: Bool = false) -> HandlerLayout.Entry {
        HandlerLayout.Entry(event: event, id: id, once: once)
    }

    func test_handlerLayout_sameRegistrations_shareOneLayout() {
        let root = HandlerLayout()
        var first = SocketHandlers(root: root)
        var second = SocketHandlers(root: root)
        for (index, event) in ["echo", "join", "leave"].enumerated() {
            first.append(entry(event, Int32(index + 1)), .plain {})
            second.append(entry(event, Int32(index + 1)), .plain {})
        }
        XCTAssertEqual(first.entries.map(\.event), ["echo", "join", "leave"])
        XCTAssertEqual(second.callbacks.count, 3)
        let shared = root.appending(entry("echo", 1))?.appending(entry("join", 2))?.appending(entry("leave", 3))
        XCTAssertNotNil(shared)
        XCTAssertTrue(shared === root.appending(entry("echo", 1))?.appending(entry("join", 2))?.appending(entry("leave", 3)),
                      "the same registrations lead to the same layout object")
    }

    func test_handlerLayout_children_areBounded() {
        let root = HandlerLayout()
        for index in 0..<HandlerLayout.maxChildren {
            XCTAssertNotNil(root.appending(entry("event-\(index)", 1)))
        }
        XCTAssertNil(root.appending(entry("one-too-many", 1)), "a layout continues in at most maxChildren ways")
        var handlers = SocketHandlers(root: root)
        handlers.append(entry("one-too-many", 1), .plain {})
        XCTAssertEqual(handlers.entries.map(\.event), ["one-too-many"], "beyond the bound a socket keeps its own list")
    }

    func test_socketHandlers_removeAll_keepsNamesAndClosuresAligned() {
        var handlers = SocketHandlers(root: HandlerLayout())
        handlers.append(entry("a", 1), .plain {})
        handlers.append(entry("b", 2, once: true), .raw { _ in })
        handlers.append(entry("c", 3), .plainAck { _ in })
        handlers.removeAll { $0.once }
        XCTAssertEqual(handlers.entries.map(\.event), ["a", "c"])
        XCTAssertEqual(handlers.callbacks.count, 2)
        guard case .plainAck = handlers.callbacks[1] else { return XCTFail("the closure of 'c' moved with its name") }
        handlers.append(entry("d", 4), .plain {})
        XCTAssertEqual(handlers.entries.map(\.id), [1, 3, 4])
    }
}
