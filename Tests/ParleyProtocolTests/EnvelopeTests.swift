import XCTest
import ParleyProtocol

final class EnvelopeTests: XCTestCase {
    private let data = RawJSON(unchecked: Array(#"{"a":1}"#.utf8))

    func test_envelope_equality_comparesEveryField() {
        XCTAssertEqual(Envelope.event(name: "e", data: data, id: 1), .event(name: "e", data: data, id: 1))
        XCTAssertNotEqual(Envelope.event(name: "e", data: data, id: 1), .event(name: "f", data: data, id: 1))
        XCTAssertNotEqual(Envelope.event(name: "e", data: data, id: 1), .event(name: "e", data: data, id: 2))
        XCTAssertNotEqual(Envelope.event(name: "e", data: data, id: 1), .event(name: "e", data: data, id: nil))
        XCTAssertNotEqual(Envelope.ack(id: 1, data: nil), .ackError(id: 1, message: ""))
        XCTAssertNotEqual(Envelope.ackError(id: 1, message: "a"), .ackError(id: 1, message: "b"))
    }

    func test_envelope_distinguishesAbsentData_fromNullData() {
        XCTAssertNotEqual(Envelope.event(name: "e", data: nil, id: nil), .event(name: "e", data: .null, id: nil))
        XCTAssertNotEqual(Envelope.ack(id: 1, data: nil), .ack(id: 1, data: .null))
    }

    func test_envelope_crossesConcurrencyDomains_asSendable() async {
        let envelope = Envelope.event(name: "e", data: data, id: 3)
        let echoed = await Task.detached { envelope }.value
        XCTAssertEqual(echoed, envelope)
    }
}
