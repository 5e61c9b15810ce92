"""The fuzzer's control (test_fuzz.py): a loopback relay in front of the real server that breaks one
promise, "never a reply larger than its request", the way a verbose error page would: every 4xx
answer's JSON body is padded with spaces to `pad_to` bytes (still valid JSON, still framed by a
correct content-length). Everything else passes unchanged.

A relay for half-closed connections only: it holds the server's bytes until the server closes, then
rewrites and forwards them, which is how the server ends every answer to bad input it was sent
with a half-close. Kept-alive answers would wait for the server's idle timeout.
"""
from __future__ import annotations

import asyncio
import threading

from harness.http import parse_responses


def padded(received: bytes, pad_to: int) -> bytes:
    """`received` with every 4xx response's body padded to `pad_to` bytes; as it was when it does
    not parse."""
    responses, problem = parse_responses(received, ["GET"])
    if problem or not responses:
        return received
    out = bytearray()
    for response in responses:
        body = response.body
        if 400 <= response.status < 500:
            body = body + b" " * max(0, pad_to - len(body))
        out += f"HTTP/1.1 {response.status} Padded\r\n".encode()
        for name, value in response.headers.items():
            value = str(len(body)) if name == "content-length" else value
            out += f"{name}: {value}\r\n".encode("latin-1")
        out += b"\r\n" + body
    return bytes(out)


class PaddingRelay:
    """Listens on a free loopback port (`port`) and relays each connection to `upstream_port`."""

    def __init__(self, upstream_port: int, pad_to: int = 4096):
        self.upstream_port, self.pad_to = upstream_port, pad_to
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return

        async def forward_requests() -> None:
            try:
                while data := await client_reader.read(65536):
                    upstream_writer.write(data)
                    await upstream_writer.drain()
                upstream_writer.write_eof()  # the client's half-close, passed on
            except OSError:
                pass

        forwarding = asyncio.create_task(forward_requests())
        received = bytearray()
        try:
            while data := await upstream_reader.read(65536):
                received += data
            client_writer.write(padded(bytes(received), self.pad_to))
            await client_writer.drain()
        except OSError:
            pass
        finally:
            forwarding.cancel()
            upstream_writer.close()
            client_writer.close()

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()
            await self.server.wait_closed()
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
