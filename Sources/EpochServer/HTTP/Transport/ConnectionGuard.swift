import NIOCore

/// Bounds what one connection may cost, in front of NIO's request decoder, where it sees raw bytes:
///
/// - **Request deadline and size.** A request must arrive completely within `requestTimeout` of
///   its first byte, in at most `maxRequestBytes` bytes, or it is answered 431 and closed. The
///   connection handler behind, on the same event loop, calls `requestReceived()` when a request
///   is complete. The timer starts only when a read burst ends with a request still incomplete,
///   so the usual request, which arrives whole in one read, costs no timer at all. This is what
///   stops slowloris clients, which trickle a byte at a time.
/// - **Idle keep-alive.** No byte for `idleTimeout` closes the connection.
/// - **Backpressure.** While the channel is not writable it stops reading, and stops feeding the
///   decoder mid-read: reads go on in `sliceBytes` pieces while the channel is writable, and the
///   rest is held until it is writable again. (NIO's `BackPressureHandler` only stops reading:
///   the bytes of a read already in would all be decoded and answered, and a pipelined `GET /`
///   of ~30 bytes has an answer seven times its size.)
///
/// One handler, not NIO's `IdleStateHandler` plus two of ours: every handler is a hop for every
/// read, read-complete, read request, write and flush, and each cost ~0.5 µs of the ~11 µs a
/// `GET /` took under `wrk` here (issue 10, docs/benchmark.md).
///
/// Time comes from the event loop (`eventLoop.now`), never from `NIODeadline.now()`: on a real
/// loop the two are the same clock, and NIO's `EmbeddedEventLoop` can then drive every timeout
/// here in virtual time (ConnectionGuardTests).
final class ConnectionGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let requestTimeout: TimeAmount
    private let maxRequestBytes: Int
    private let idleTimeout: TimeAmount
    /// nil: no backpressure (a testing aid for the flood test's control run).
    private let sliceBytes: Int?

    private var deadline: Scheduled<Void>?
    private var bytesTowardsRequest = 0
    private var rejected = false
    private var idleCheck: Scheduled<Void>?
    /// When the last read batch ended (the event loop's clock); set when the connection starts.
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    private var readInBatch = false
    private var held: ByteBuffer?
    private var readPending = false

    init(requestTimeout: TimeAmount, maxRequestBytes: Int, idleTimeout: TimeAmount, sliceBytes: Int?) {
        self.requestTimeout = requestTimeout
        self.maxRequestBytes = maxRequestBytes
        self.idleTimeout = idleTimeout
        self.sliceBytes = sliceBytes
    }

    // MARK: request deadline and size

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !rejected else { return }
        readInBatch = true
        var bytes = unwrapInboundIn(data)
        if held != nil {
            held!.writeBuffer(&bytes)
        } else {
            forward(&bytes, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if readInBatch {
            readInBatch = false
            lastRead = context.eventLoop.now
        }
        if bytesTowardsRequest > 0 && deadline == nil && !rejected {
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestTimeout) {
                context.close(promise: nil)
            }
        }
        context.fireChannelReadComplete()
    }

    /// A request has been read in full: the next one starts from zero bytes and no deadline.
    func requestReceived() {
        deadline?.cancel()
        deadline = nil
        bytesTowardsRequest = 0
    }

    /// Passes bytes on to the decoder, in slices while backpressure is on, counting them towards
    /// the request under way.
    private func forward(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) {
        guard let sliceBytes else { return deliver(bytes, context: context) }
        // The usual read, one request or a few, goes on whole: no slice to make and drop.
        if bytes.readableBytes <= sliceBytes && context.channel.isWritable {
            return deliver(bytes, context: context)
        }
        while bytes.readableBytes > 0 && !rejected {
            guard context.channel.isWritable else {
                held = bytes
                context.flush()  // what is written so far must go out for writability to return
                return
            }
            deliver(bytes.readSlice(length: min(sliceBytes, bytes.readableBytes))!, context: context)
        }
    }

    private func deliver(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        bytesTowardsRequest += bytes.readableBytes
        if bytesTowardsRequest > maxRequestBytes {
            return reject(context: context)
        }
        context.fireChannelRead(wrapInboundOut(bytes))
    }

    /// Answers 431 straight onto the socket and closes: the decoder behind may hold a partial
    /// request. The close is a lingering one (shut down our side, keep reading and discarding):
    /// closing with unread input makes the kernel send RST, and the client would lose the answer.
    private func reject(context: ChannelHandlerContext) {
        rejected = true
        held = nil
        deadline?.cancel()
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestTimeout) {
            context.close(promise: nil)
        }
        let body = #"{"error":"request too large","status":431}"#
        let response =
            "HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            + "content-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response)))
            .assumeIsolated().whenComplete { _ in context.close(mode: .output, promise: nil) }
    }

    // MARK: idle keep-alive

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startIdleCheck(context: context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if idleCheck == nil { startIdleCheck(context: context) }
        context.fireChannelActive()
    }

    private func startIdleCheck(context: ChannelHandlerContext) {
        lastRead = context.eventLoop.now
        scheduleIdleCheck(in: idleTimeout, context: context)
    }

    /// One timer per connection, re-armed for the rest of the timeout when bytes came meanwhile
    /// (not re-armed per read).
    private func scheduleIdleCheck(in delay: TimeAmount, context: ChannelHandlerContext) {
        idleCheck = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            let quiet = context.eventLoop.now - lastRead
            if quiet >= idleTimeout {
                context.close(promise: nil)
            } else {
                scheduleIdleCheck(in: idleTimeout - quiet, context: context)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        idleCheck?.cancel()
        context.fireChannelInactive()
    }

    // MARK: backpressure

    func read(context: ChannelHandlerContext) {
        if sliceBytes == nil || (held == nil && context.channel.isWritable) {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            if var bytes = held {
                held = nil
                forward(&bytes, context: context)
                context.fireChannelReadComplete()  // the handler behind flushes once per batch
            }
            if held == nil && readPending {
                readPending = false
                context.read()
            }
        } else {
            context.flush()
        }
        context.fireChannelWritabilityChanged()
    }
}
