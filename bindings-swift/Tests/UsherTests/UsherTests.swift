// XCTest of the Swift package. Needs a machine with Swift and the Rust library
// built (see README.md); not run on this repository's CI machine (SPEC §10),
// where the same scenarios run through UniFFI's Python bindings
// (tests/test_client_control.py).
//
// The tests against a server read USHER_URL and USHER_CONTROL_PASSWORD (the
// embedded `control` principal's password) and are skipped without them:
//
//   USHER_CONTROL_PASSWORD=pw cargo run -p usher-server -- --listen 127.0.0.1:8080 &
//   USHER_URL=ws://127.0.0.1:8080 USHER_CONTROL_PASSWORD=pw swift test

import Foundation
import XCTest
@testable import Usher

/// A list appended to from listener threads (the runtime's, never the test's).
final class Recorder<Item>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Item] = []

    func add(_ item: Item) {
        lock.lock()
        defer { lock.unlock() }
        items.append(item)
    }

    var all: [Item] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}

/// Waits until `condition()` holds (listeners run on other threads).
func eventually(
    timeout: TimeInterval = 10, file: StaticString = #filePath, line: UInt = #line,
    _ condition: () -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline {
            XCTFail("not true within \(timeout) s", file: file, line: line)
            return
        }
        try await Task.sleep(nanoseconds: 10_000_000)
    }
}

final class UsherTests: XCTestCase {
    let text = "8f3a2c41d09e7b15-0000000000000007"

    // MARK: Without a server

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

    final class SelftestRecorder: SelftestListener, @unchecked Sendable {
        let seen = Recorder<String>()
        func onValue(value: String) { seen.add("sync " + value) }
        func onValueAsync(value: String) async { seen.add("async " + value) }
    }

    func testForeignListener() async throws {
        let recorder = SelftestRecorder()
        let delivered = try await selftestDeliver(listener: recorder, values: ["a", "b"])
        XCTAssertEqual(delivered, 2)
        XCTAssertEqual(recorder.seen.all, ["sync a", "async a", "sync b", "async b"])
    }

    func testConnectionFailedIsThrown() async {
        do {
            // Port 9 (discard) on the loopback: nothing listens there.
            _ = try await Session.connect(url: "ws://127.0.0.1:9")
            XCTFail("connected to nothing")
        } catch let error as UsherError {
            XCTAssertEqual(error.code(), "CONNECTION")
        } catch {
            XCTFail("not an UsherError: \(error)")
        }
    }

    // MARK: Against a server (USHER_URL)

    var url: String = ""
    var controlPassword: String = ""

    override func setUp() {
        super.setUp()
        let env = ProcessInfo.processInfo.environment
        url = env["USHER_URL"] ?? ""
        controlPassword = env["USHER_CONTROL_PASSWORD"] ?? ""
    }

    func requireServer() throws {
        if url.isEmpty || controlPassword.isEmpty {
            throw XCTSkip("set USHER_URL and USHER_CONTROL_PASSWORD to run against a server")
        }
    }

    func controller() async throws -> Session {
        try await Session.connect(url: url, principal: "control", password: controlPassword)
    }

    func anonymous(group: String? = nil) async throws -> Session {
        try await Session.connect(url: url, properties: group.map { ["group": $0] } ?? [:])
    }

    func testConnect() async throws {
        try requireServer()
        let session = try await controller()
        let id = session.id
        XCTAssertNotEqual(id.server, 0)
        let props = try await session.clientControl()
            .getSessionProperties(sessionId: id, keys: ["$SessionId", "$ClientType", "$Principal"])
        XCTAssertEqual(props, ["$SessionId": id.description, "$ClientType": "SWIFT", "$Principal": "control"])
        XCTAssertEqual(session.roles(), ["CLIENT_CONTROL", "TOPIC_CONTROL"])
        try await session.close()
        XCTAssertTrue(session.isClosed())
        XCTAssertEqual(session.closeReason(), CloseReason.closedByClient)
    }

    func testCloseClientById() async throws {
        try requireServer()
        let control = try await controller()
        let client = try await anonymous()
        let clients = control.clientControl()
        let closed = try await clients.closeClient(with: client.id)
        XCTAssertEqual(closed, 1)
        let reason = try await client.closed()
        XCTAssertEqual(reason, .closedByController)
        XCTAssertEqual(reason.code, "CLOSED_BY_CONTROLLER")
        do {
            _ = try await clients.closeClient(with: client.id)
            XCTFail("closed a closed session")
        } catch UsherError.NoSuchSession {
        }
        try await control.close()
    }

    func testCloseClientsByFilter() async throws {
        try requireServer()
        let control = try await controller()
        let group = UUID().uuidString
        let a = try await anonymous(group: group)
        let b = try await anonymous(group: group)
        let bystander = try await anonymous(group: group + "-not")
        let clients = control.clientControl()
        let counted = try await clients.countSessions(filter: "group is '\(group)'")
        XCTAssertEqual(counted, 2)
        let result = try await clients.closeClientsDetailed(filter: "group is '\(group)'")
        XCTAssertEqual(result.total, 2)
        XCTAssertEqual(result.denied, 0)
        XCTAssertEqual(result.perServer.values.reduce(0, +), 2)
        let reasonA = try await a.closed()
        let reasonB = try await b.closed()
        XCTAssertEqual([reasonA, reasonB], [.closedByController, .closedByController])
        XCTAssertFalse(bystander.isClosed())
        let none = try await clients.closeClients(filter: "group is '\(group)'")
        XCTAssertEqual(none, 0)
        try await bystander.close()
        try await control.close()
    }

    func testChangeRoles() async throws {
        try requireServer()
        let control = try await controller()
        let clients = control.clientControl()
        let group = UUID().uuidString
        let client = try await anonymous(group: group)
        XCTAssertEqual(client.roles(), ["CLIENT"])
        // By id (the SessionId overload): the client is told its new roles.
        async let told = client.rolesChanged()
        try await Task.sleep(nanoseconds: 50_000_000)
        let changed = try await clients.changeRoles(sessions: client.id, rolesToAdd: ["TOPIC_CONTROL"])
        XCTAssertEqual(changed, 1)
        let roles = try await told
        XCTAssertEqual(roles, ["CLIENT", "TOPIC_CONTROL"])
        let props = try await clients.getSessionProperties(sessionId: client.id, keys: ["$Roles"])
        XCTAssertEqual(props["$Roles"], "\"CLIENT\",\"TOPIC_CONTROL\"")
        // By filter, detailed: remove it again.
        let result = try await clients.changeRolesDetailed(
            sessions: "group is '\(group)'", rolesToRemove: ["TOPIC_CONTROL"]
        )
        XCTAssertEqual(result.total, 1)
        try await eventually { client.roles() == ["CLIENT"] }
        // Checked before any round trip.
        do {
            _ = try await clients.changeRoles(sessions: client.id)
            XCTFail("changed no roles")
        } catch UsherError.InvalidArgument {
        }
        // No escalation.
        do {
            _ = try await clients.changeRoles(sessions: client.id, rolesToAdd: ["ADMINISTRATOR"])
            XCTFail("escalated")
        } catch let UsherError.AccessDenied(_, permission) {
            XCTAssertFalse(permission.isEmpty)
        }
        try await client.close()
        try await control.close()
    }

    /// The user's class conforming to `QueueEventListener` (SPEC §4.3, §4.6).
    final class PolicyRecorder: QueueEventListener, @unchecked Sendable {
        let events = Recorder<(String, SessionId, QueuePolicy)>()
        let closed = Recorder<Bool>()

        func didReportPolicyChange(policy: QueuePolicy, sessionId: SessionId) {
            events.add(("policy", sessionId, policy))
        }
        func upperThresholdCrossed(policy: QueuePolicy, sessionId: SessionId) {
            events.add(("upper", sessionId, policy))
        }
        func lowerThresholdCrossed(policy: QueuePolicy, sessionId: SessionId) {
            events.add(("lower", sessionId, policy))
        }
        func didClose() { closed.add(true) }
        func didFailWithError(error: UsherError) { XCTFail("queue handler failed: \(error)") }

        func of(_ id: SessionId) -> [(String, QueuePolicy)] {
            events.all.filter { $0.1 == id }.map { ($0.0, $0.2) }
        }
    }

    func testQueueEventListenerReceivesPolicyChange() async throws {
        try requireServer()
        let control = try await controller()
        let clients = control.clientControl()
        let client = try await anonymous()
        let handler = PolicyRecorder()
        let registration = try await clients.setQueueEventHandler(handler: handler)
        let conflated = try await clients.setQueueConflation(sessions: client.id, conflated: true)
        XCTAssertEqual(conflated, 1)
        try await eventually { handler.of(client.id).count == 1 }
        let (kind, policy) = handler.of(client.id)[0]
        XCTAssertEqual(kind, "policy")
        XCTAssertTrue(policy.conflated)
        XCTAssertEqual(policy.throttler, .unthrottled)
        let throttled = try await clients.setThrottled(sessions: client.id, throttler: .messagesPerSecond(50))
        XCTAssertEqual(throttled, 1)
        try await eventually { handler.of(client.id).count == 2 }
        XCTAssertEqual(handler.of(client.id)[1].1.throttler, .messagesPerSecond(50))
        // One handler per session.
        do {
            _ = try await clients.setQueueEventHandler(handler: PolicyRecorder())
            XCTFail("a second handler")
        } catch UsherError.HandlerConflict {
        }
        try await registration.close()
        XCTAssertTrue(registration.isClosed())
        XCTAssertEqual(handler.closed.all, [true])
        try await client.close()
        try await control.close()
    }

    /// A listener implementing only what it needs (the rest has defaults).
    final class Opened: SessionEventListener, @unchecked Sendable {
        let events = Recorder<SessionEvent>()
        func didReceive(event: SessionEvent) { events.add(event) }
    }

    func testSessionEventListenerSnapshot() async throws {
        try requireServer()
        let control = try await controller()
        let group = UUID().uuidString
        let existing = try await anonymous(group: group)
        let listener = Opened()
        let registration = try await control.clientControl().addSessionEventListener(
            listener: listener,
            parameters: SessionEventParameters(filter: "group is '\(group)'", properties: ["group"])
        )
        // The snapshot is there when the registration returns.
        guard case let .state(sessionId, state, _, properties) = listener.events.all.first else {
            return XCTFail("no snapshot: \(listener.events.all)")
        }
        XCTAssertEqual(sessionId, existing.id)
        XCTAssertEqual(state, .active)
        XCTAssertEqual(properties, ["group": group])
        try await registration.close()
        try await existing.close()
        try await control.close()
    }
}
