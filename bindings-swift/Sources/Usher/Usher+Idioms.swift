// The hand-written layer over the generated bindings (Usher.swift): Swift
// idioms that UniFFI does not generate. Keep it thin: no logic, only names,
// overloads and defaults; every function here calls one generated function.

import Foundation

// MARK: - Session ids

extension SessionId {
    /// Parses the text form `%016x-%016x` (either case, surrounding white space
    /// ignored); throws `UsherError.InvalidArgument` otherwise.
    public init(parsing text: String) throws {
        self = try parseSessionId(text: text)
    }
}

// MARK: - Session

extension Session {
    /// The session's id (SPEC §4.6: `session.id`).
    public var id: SessionId { sessionId() }

    /// Topics: add, remove, update, subscribe (SPEC §4.6: `session.topics`).
    public var topics: Topics { topicsHandle() }

    /// Connects with every option but these at its default:
    /// `try await Session.connect(url: url, principal: "control", password: pw)`.
    public static func connect(
        url: String,
        principal: String? = nil,
        password: String? = nil,
        properties: [String: String] = [:]
    ) async throws -> Session {
        try await connect(options: ConnectOptions(
            url: url, principal: principal, password: password, properties: properties
        ))
    }
}

// MARK: - Client control: a SessionId wherever a target is expected

// The generated methods take `sessions` as text: a session id in text form or
// a filter (the core's `Target::parse` decides, SPEC §2.1). These overloads
// take a `SessionId`; its text form is always read back as that id.
extension ClientControl {
    /// Closes the session whose id is given in text form; throws
    /// `InvalidArgument` when the text is not a session id.
    public func closeClient(with sessionId: String) async throws -> UInt64 {
        try await closeClient(with: SessionId(parsing: sessionId))
    }

    /// `closeClient(with:)` by text, with the full result.
    public func closeClientDetailed(with sessionId: String) async throws -> FilterResult {
        try await closeClientDetailed(with: SessionId(parsing: sessionId))
    }

    /// `changeRoles(sessions:rolesToRemove:rolesToAdd:)` on one session.
    public func changeRoles(
        sessions: SessionId, rolesToRemove: [String] = [], rolesToAdd: [String] = []
    ) async throws -> UInt64 {
        try await changeRoles(sessions: sessions.description, rolesToRemove: rolesToRemove, rolesToAdd: rolesToAdd)
    }

    /// `changeRolesDetailed(sessions:rolesToRemove:rolesToAdd:)` on one session.
    public func changeRolesDetailed(
        sessions: SessionId, rolesToRemove: [String] = [], rolesToAdd: [String] = []
    ) async throws -> FilterResult {
        try await changeRolesDetailed(
            sessions: sessions.description, rolesToRemove: rolesToRemove, rolesToAdd: rolesToAdd
        )
    }

    /// `getSessionProperties(sessionId:keys:)` with the id in text form.
    public func getSessionProperties(sessionId: String, keys: [String]) async throws -> [String: String] {
        try await getSessionProperties(sessionId: SessionId(parsing: sessionId), keys: keys)
    }

    /// `setSessionProperties(sessions:properties:)` on one session.
    public func setSessionProperties(sessions: SessionId, properties: [String: String?]) async throws -> UInt64 {
        try await setSessionProperties(sessions: sessions.description, properties: properties)
    }

    /// `setSessionPropertiesDetailed(sessions:properties:)` on one session
    /// (`changed` holds each changed key's old value).
    public func setSessionPropertiesDetailed(
        sessions: SessionId, properties: [String: String?]
    ) async throws -> FilterResult {
        try await setSessionPropertiesDetailed(sessions: sessions.description, properties: properties)
    }

    /// `setQueueConflation(sessions:conflated:)` on one session.
    public func setQueueConflation(sessions: SessionId, conflated: Bool) async throws -> UInt64 {
        try await setQueueConflation(sessions: sessions.description, conflated: conflated)
    }

    /// `setQueueConflationDetailed(sessions:conflated:)` on one session.
    public func setQueueConflationDetailed(sessions: SessionId, conflated: Bool) async throws -> FilterResult {
        try await setQueueConflationDetailed(sessions: sessions.description, conflated: conflated)
    }

    /// `setThrottled(sessions:throttler:)` on one session.
    public func setThrottled(sessions: SessionId, throttler: Throttler) async throws -> UInt64 {
        try await setThrottled(sessions: sessions.description, throttler: throttler)
    }

    /// `setThrottledDetailed(sessions:throttler:)` on one session.
    public func setThrottledDetailed(sessions: SessionId, throttler: Throttler) async throws -> FilterResult {
        try await setThrottledDetailed(sessions: sessions.description, throttler: throttler)
    }
}

// MARK: - Listeners: optional methods

// As in the Rust traits, only the events a listener exists for must be
// implemented; the end and the failure of a registration may be ignored.

extension QueueEventListener {
    /// Does nothing unless the conforming class implements it.
    public func didReportPolicyChange(policy: QueuePolicy, sessionId: SessionId) {}
    /// Does nothing unless the conforming class implements it.
    public func didClose() {}
    /// Does nothing unless the conforming class implements it.
    public func didFailWithError(error: UsherError) {}
}

extension SessionEventListener {
    /// Does nothing unless the conforming class implements it.
    public func didClose() {}
    /// Does nothing unless the conforming class implements it.
    public func didFailWithError(error: UsherError) {}
}

extension TopicListener {
    /// Does nothing unless the conforming class implements it.
    public func didClose() {}
    /// Does nothing unless the conforming class implements it.
    public func didFailWithError(error: UsherError) {}
}

// MARK: - Errors and close reasons

extension UsherError {
    /// The error's message, whatever its case.
    public var message: String {
        switch self {
        case let .AccessDenied(message, _),
             let .InvalidFilter(message, _),
             let .InvalidArgument(message, _),
             let .ClusterRouting(message, _):
            return message
        case let .LimitExceeded(message, _, _, _, _):
            return message
        case let .AuthenticationFailed(message),
             let .NoSuchSession(message),
             let .HandlerConflict(message),
             let .SessionClosed(message),
             let .ConnectionFailed(message),
             let .Timeout(message),
             let .ProtocolError(message),
             let .InternalError(message):
            return message
        }
    }
}

extension CloseReason {
    /// The upper-snake text, e.g. `CLOSED_BY_CONTROLLER`.
    public var code: String { closeReasonCode(reason: self) }
}

/// The version of the Rust core behind this package.
public var usherVersion: String { version() }
