import NIOCore

/// Stops reading a connection while its channel is not writable, and stops feeding the decoder
/// mid-read, so that a client that sends requests without reading the answers costs at most the
/// write-buffer's high watermark, one slice's answers and one read batch of held request bytes.
///
/// NIO's `BackPressureHandler` does the first half only: the bytes of a read that is already in
/// would still all be decoded and answered, and a pipelined `GET /` of ~30 bytes has an answer
/// seven times its size. So this sits in front of the request deadline and the decoder, passes
/// reads on in `sliceBytes` pieces while the channel is writable, and holds the rest until it is
/// writable again.
final class BackpressureGate: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private let sliceBytes: Int
    private var held: ByteBuffer?
    private var readPending = false

    init(sliceBytes: Int) {
        self.sliceBytes = sliceBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if held != nil {
            held!.writeBuffer(&bytes)
        } else {
            forward(&bytes, context: context)
        }
    }

    func read(context: ChannelHandlerContext) {
        if held == nil && context.channel.isWritable {
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
                context.fireChannelReadComplete()  // the handlers behind flush once per batch
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

    private func forward(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) {
        while bytes.readableBytes > 0 {
            guard context.channel.isWritable else {
                held = bytes
                context.flush()  // what is written so far must go out for writability to return
                return
            }
            let slice = bytes.readSlice(length: min(sliceBytes, bytes.readableBytes))!
            context.fireChannelRead(wrapInboundOut(slice))
        }
    }
}
