import EpochCore

/// Everything the server needs, read once at start-up by the command line and never again.
package struct ServerConfiguration: Sendable {
    /// Address to bind; `0.0.0.0` serves every IPv4 interface, `::` every interface.
    package var host = "0.0.0.0"
    /// Port to bind; 0 picks a free one (tests read it back from `EpochHTTPServer.boundAddress`).
    package var port = 8080
    /// The pod's host name, served as `host`: read once, not per request.
    package var hostname = "localhost"
    /// The short git commit the binary was built from, served as `rev`.
    package var revision = "unknown"
    /// The release version, served by `/version`.
    package var version = "0.0.0"
    /// The compiler the binary was built with, served by `/version`.
    package var swiftVersion = "unknown"
    /// How long to keep serving (with `/readyz` at 503) after SIGTERM before refusing new connections.
    package var shutdownDelay: Duration = .zero
    /// A keep-alive connection with no bytes for this long is closed. It must exceed the idle
    /// timeout of any proxy in front (ingress-nginx keeps upstream connections 60 s), or the proxy
    /// may send a request on a connection the server is closing.
    package var idleTimeout: Duration = .seconds(75)
    /// A request must arrive completely within this time of its first byte (slowloris defence).
    package var requestTimeout: Duration = .seconds(10)
    /// Bytes a client may send towards one request before it is answered 431 and closed.
    package var maxRequestBytes = 64 * 1024
    /// Size limit of one request's header block (name + value bytes), enforced by NIO's decoder.
    package var maxHeaderBytes = 16 * 1024
    /// Event loop threads; nil means one per CPU this process may use (`EventLoopThreads.available`).
    package var eventLoopThreads: Int? = nil
    /// Connections held open at most; more are closed at accept and counted. With each
    /// connection's worst case bounded by backpressure, this bounds the server's memory.
    package var maxConnections = 256
    /// Testing aid: false leaves out the read backpressure (the flood test's control run).
    package var backpressure = true
    /// Shifts every time the server reports (testing aid for offset-measuring clients).
    package var clockSkew: Duration = .zero
    /// `/readyz` answers 503 while the kernel reports the clock unsynchronized, so that Kubernetes
    /// stops routing to a pod whose node has lost its time. Off by default: an undisciplined clock
    /// still serves (and says so in `/sync` and `/clock`).
    package var requireSynchronizedClock = false

    package init() {}
}
