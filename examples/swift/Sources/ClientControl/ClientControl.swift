// The ClientControl example: a class registering a `QueueEventListener` that
// prints every policy change, and a client closed by its session id.
//
//   USHER_URL=ws://127.0.0.1:8080 USHER_PRINCIPAL=control USHER_PASSWORD=... \
//       swift run ClientControl [SESSION_ID]
//
// Without SESSION_ID it connects a client of its own to close. The
// controller needs CLIENT_CONTROL (the embedded `control` or `admin`).

import Foundation
import Usher

/// Prints what the server reports about sessions' outbound queues. Methods
/// are called on a runtime thread, one at a time, in order.
final class PolicyPrinter: QueueEventListener, @unchecked Sendable {
    func didReportPolicyChange(policy: QueuePolicy, sessionId: SessionId) {
        print("\(sessionId): policy changed: conflated=\(policy.conflated) throttler=\(policy.throttler)")
    }

    func upperThresholdCrossed(policy: QueuePolicy, sessionId: SessionId) {
        print("\(sessionId): queue above \(policy.upperThreshold)% of \(policy.maxDepth)")
    }

    func lowerThresholdCrossed(policy: QueuePolicy, sessionId: SessionId) {
        print("\(sessionId): queue back below \(policy.lowerThreshold)%")
    }

    func didClose() {
        print("queue handler closed")
    }

    func didFailWithError(error: UsherError) {
        print("queue handler failed: \(error.code()): \(error.message)")
    }
}

@main
struct ClientControlExample {
    static func main() async {
        do {
            try await run()
        } catch let error as UsherError {
            print("error \(error.code()): \(error.message)")
            exit(1)
        } catch {
            print("error: \(error)")
            exit(1)
        }
    }

    static func run() async throws {
        let env = ProcessInfo.processInfo.environment
        let url = env["USHER_URL"] ?? "ws://127.0.0.1:8080"
        let controller = try await Session.connect(
            url: url, principal: env["USHER_PRINCIPAL"], password: env["USHER_PASSWORD"]
        )
        let clients = controller.clientControl()

        // Keep the registration: releasing it unregisters the handler.
        let printer = PolicyPrinter()
        let registration = try await clients.setQueueEventHandler(handler: printer)

        // The session to close: given on the command line, or one of our own.
        var own: Session?
        let target: SessionId
        if CommandLine.arguments.count > 1 {
            target = try SessionId(parsing: CommandLine.arguments[1])
        } else {
            let client = try await Session.connect(url: url)
            own = client
            target = client.id
        }
        print("controller \(controller.id), closing \(target)")

        // A real policy change, which the printer reports.
        _ = try await clients.setQueueConflation(sessions: target, conflated: true)

        let closed = try await clients.closeClient(with: target)
        print("closed \(closed) session")
        if let client = own {
            let reason = try await client.closed()
            print("the client saw \(reason.code)")
        }

        try await registration.close()
        try await controller.close()
    }
}
