// The hand-written layer over the generated bindings (Usher.swift): Swift
// idioms that UniFFI does not generate. Keep it thin: no logic, only names.

import Foundation

extension SessionId {
    /// Parses the text form `%016x-%016x` (either case, surrounding white space
    /// ignored); throws `UsherError.InvalidArgument` otherwise.
    public init(parsing text: String) throws {
        self = try parseSessionId(text: text)
    }
}

extension UsherError {
    /// The error's message, whatever its case.
    public var message: String {
        switch self {
        case let .AccessDenied(message, _),
             let .InvalidFilter(message, _),
             let .InvalidArgument(message, _),
             let .ClusterRouting(message, _):
            return message
        case let .LimitExceeded(message, _, _, _):
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

/// The version of the Rust core behind this package.
public var usherVersion: String { version() }
