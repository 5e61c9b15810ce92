import EpochTestSupport
import NIOCore
import NIOPosix
import Testing

@testable import EpochServer

/// /readyz waits for every listener the process serves (NTP, NTS-KE and Roughtime bind in services
/// of their own, beside HTTP), over a real socket.
@Suite struct ReadinessTests {
    /// The proof and its control on one server: 503 "starting" while a listener has not bound,
    /// 200 "ready" once it has.
    @Test func readyzAnswersStartingUntilEveryListenerIsBound() async throws {
        try await withTestServer { test, port in
            let bound = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: SocketAddress.self)
            test.server.readiness.waitFor(bound.futureResult)
            try await RawConnection.with(port: port) { connection in
                let starting = try await connection.readResponse(get("/readyz"))
                #expect(starting.status == 503 && starting.body == #"{"status":"starting"}"#)
                bound.succeed(try SocketAddress(ipAddress: "127.0.0.1", port: 123))
                _ = try await bound.futureResult.get()  // after readiness's own callback, registered first
                let ready = try await connection.readResponse(get("/readyz"))
                #expect(ready.status == 200 && ready.body == #"{"status":"ready"}"#)
            }
        }
    }

    /// A listener that fails to bind never makes the instance ready (the process exits on it).
    @Test func aListenerThatFailsToBindKeepsReadyzAt503() async throws {
        struct BindFailed: Error {}
        try await withTestServer { test, port in
            let bound = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: SocketAddress.self)
            test.server.readiness.waitFor(bound.futureResult)
            bound.fail(BindFailed())
            _ = try? await bound.futureResult.get()
            try await RawConnection.with(port: port) { connection in
                let response = try await connection.readResponse(get("/readyz"))
                #expect(response.status == 503 && response.body == #"{"status":"starting"}"#)
            }
        }
    }
}
