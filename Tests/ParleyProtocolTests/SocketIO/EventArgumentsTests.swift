import XCTest
@testable import ParleyProtocol

final class EventArgumentsTests: XCTestCase {
    private func raw(_ text: String) -> RawJSON { RawJSON(unchecked: Array(text.utf8)) }

    func test_eventArguments_mapToParleyData_noneOneOrArray() {
        XCTAssertNil(EventArguments().data)
        XCTAssertEqual(EventArguments([raw("1")]).data, raw("1"))
        XCTAssertEqual(EventArguments([raw("1"), raw(#""a""#)]).data, raw(#"[1,"a"]"#))
        XCTAssertEqual(EventArguments(data: raw("[1,2]")).count, 1)
        XCTAssertEqual(EventArguments(data: nil).count, 0)
    }

    func test_eventArguments_spreading_takesArrayElementsAsArguments() {
        XCTAssertEqual(EventArguments(spreading: raw("[1, \"two\" ,{\"three\":[3]}]")).count, 3)
        XCTAssertEqual(EventArguments(spreading: raw("[1, \"two\" ,{\"three\":[3]}]"))[2], raw(#"{"three":[3]}"#))
        XCTAssertEqual(EventArguments(spreading: raw("[[1]]")), EventArguments(data: raw("[1]")), "one element: that element")
        XCTAssertEqual(EventArguments(spreading: raw("[]")), EventArguments())
        XCTAssertEqual(EventArguments(spreading: raw("7")), EventArguments(data: raw("7")), "not an array: one argument")
        XCTAssertEqual(EventArguments(spreading: nil), EventArguments())
    }

    func test_eventArguments_removingLastString_takesOffOnlyATrailingString() {
        var three = EventArguments(spreading: raw(#"[1, "a,]b" , "41"]"#))
        XCTAssertEqual(three.removingLastString(), "41")
        XCTAssertEqual(three, EventArguments(spreading: raw(#"[1, "a,]b"]"#)))
        var two = EventArguments(spreading: raw(#"[{"k":[1,2]},"7"]"#))
        XCTAssertEqual(two.removingLastString(), "7")
        XCTAssertEqual(two, EventArguments(data: raw(#"{"k":[1,2]}"#)))
        var one = EventArguments(data: raw(#""9""#))
        XCTAssertEqual(one.removingLastString(), "9")
        XCTAssertEqual(one, EventArguments())
        var number = EventArguments(spreading: raw("[1,2]"))
        XCTAssertNil(number.removingLastString())
        XCTAssertEqual(number.count, 2, "a last argument that is not a string stays")
    }

    func test_eventArguments_array_wrapsEveryCount() {
        XCTAssertEqual(EventArguments().array, raw("[]"))
        XCTAssertEqual(EventArguments(data: raw("{}")).array, raw("[{}]"))
        XCTAssertEqual(EventArguments([raw("1"), raw("2"), raw("3")]).array, raw("[1,2,3]"))
    }

    func test_eventArguments_decodeByIndex_missingIsNull() throws {
        let arguments = EventArguments([raw("1"), raw(#""two""#)])
        XCTAssertEqual(try arguments.decode(0, as: Int.self), 1)
        XCTAssertEqual(try arguments.decode(1, as: String.self), "two")
        XCTAssertNil(try arguments.decode(2, as: Int?.self))
    }

    func test_eventArguments_parameter_spreadsOneArrayArgument_forTypedHandlers() {
        let envelope = EventArguments(data: raw(#"[1, "x"]"#))
        XCTAssertEqual(envelope.parameter(0, of: 2), raw("1"))
        XCTAssertEqual(envelope.parameter(1, of: 2), raw(#""x""#))
        XCTAssertEqual(envelope.parameter(0, of: 1), raw(#"[1, "x"]"#))
        let socketIO = EventArguments([raw("[1]"), raw("2")])
        XCTAssertEqual(socketIO.parameter(0, of: 2), raw("[1]"))
        XCTAssertEqual(socketIO.parameter(2, of: 3), .null)
    }
}
