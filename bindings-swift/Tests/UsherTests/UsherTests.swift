// XCTest of what the binding has so far. Needs a machine with Swift and the
// Rust library built (see README.md); not run here (SPEC §10).

import XCTest
@testable import Usher

final class UsherTests: XCTestCase {
    let text = "8f3a2c41d09e7b15-0000000000000007"

    func testVersion() {
        XCTAssertFalse(usherVersion.isEmpty)
    }

    func testSessionIdRoundTrip() throws {
        let id = try SessionId(parsing: "  " + text.uppercased())
        XCTAssertEqual(id.server, 0x8f3a_2c41_d09e_7b15)
        XCTAssertEqual(id.value, 7)
        XCTAssertEqual(id.description, text)
        XCTAssertEqual(id, SessionId(server: 0x8f3a_2c41_d09e_7b15, value: 7))
        XCTAssertEqual(Set([id, SessionId(server: 0x8f3a_2c41_d09e_7b15, value: 7)]).count, 1)
    }

    func testBadSessionIdIsInvalidArgument() {
        XCTAssertThrowsError(try SessionId(parsing: "nope")) { error in
            guard case let UsherError.InvalidArgument(_, argument) = error else {
                return XCTFail("expected InvalidArgument, got \(error)")
            }
            XCTAssertEqual(argument, "session_id")
            XCTAssertEqual((error as? UsherError)?.code(), "INVALID_ARGUMENT")
        }
    }

    func testEveryCodeMapsToItsCase() {
        for code in errorCodes() {
            XCTAssertThrowsError(try selftestRaise(code: code)) { error in
                XCTAssertEqual((error as? UsherError)?.code(), code)
            }
        }
    }

    func testAsyncCallAndError() async throws {
        let echoed = try await selftestEchoAfter(value: "hi", millis: 1)
        XCTAssertEqual(echoed, ["hi", "usher-rt"])
        do {
            try await selftestFailAfter(code: "ACCESS_DENIED", millis: 1)
            XCTFail("no error")
        } catch let UsherError.AccessDenied(_, permission) {
            XCTAssertEqual(permission, "MODIFY_SESSION")
        }
    }

    final class Recorder: SelftestListener, @unchecked Sendable {
        private let lock = NSLock()
        private(set) var seen: [String] = []
        func onValue(value: String) { lock.withLock { seen.append("sync " + value) } }
        func onValueAsync(value: String) async { lock.withLock { seen.append("async " + value) } }
    }

    func testForeignListener() async throws {
        let recorder = Recorder()
        let delivered = try await selftestDeliver(listener: recorder, values: ["a", "b"])
        XCTAssertEqual(delivered, 2)
        XCTAssertEqual(recorder.seen, ["sync a", "async a", "sync b", "async b"])
    }
}
