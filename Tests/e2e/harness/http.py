"""HTTP as a client sees it: GET without raising on 4xx/5xx, polling a URL until it answers, the
served JSON's shape, and HTTP/1.1 responses parsed by h11 (strict about framing)."""
from __future__ import annotations

import json
import re
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import h11

# GET / answers this (the server's contract).
EPOCH_JSON_RE = re.compile(
    r'^\{"host":"[^"]+","type":"epoch","data":[0-9]{10},"unit":"sec","rev":"[0-9a-f]{7,}"\}$'
)


def http_get(url: str, timeout: float = 5.0, *, headers: dict | None = None,
             context: ssl.SSLContext | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Any HTTP answer, without raising on 4xx/5xx: (status, lower-cased headers, body bytes).
    Raises OSError when nothing answers."""
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def wait_for_http(url: str, timeout: float = 30.0, status: int = 200, **get_options) -> bytes:
    """Polls `url` until it answers `status`; returns the body. Raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            code, _, body = http_get(url, timeout=2, **get_options)
            if code == status:
                return body
            last = code
        except (OSError, urllib.error.URLError) as error:  # refused or reset while starting
            last = error
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer {status} within {timeout}s (last: {last!r})")


def parse_json(body: bytes) -> dict:
    return json.loads(body.decode())


# --------------------------------------------------------------------------------------------------
# HTTP/1.1 responses, parsed by h11 (a client's view, strict about framing)


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes
    size: int = 0  # its bytes on the wire, head and body (parse_responses sets it)


class ResponseReader:
    """The client side of one connection, for h11: `expect()` returns the bytes of the request whose
    answer comes next (so h11 knows, e.g., that a HEAD answer has no body), `feed()` takes what the
    server sent (b"" for its close), `next()` returns the next complete response or None until
    enough has arrived. Malformed or unframed responses raise h11.RemoteProtocolError."""

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self._head: h11.Response | None = None
        self._body = bytearray()
        self._method = "GET"

    def expect(self, method: str = "GET", target: str = "/", host: str = "127.0.0.1",
               headers: list[tuple[str, str]] | None = None) -> bytes:
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        self._method = method
        request = h11.Request(method=method, target=target, headers=[("Host", host), *(headers or [])])
        return self.h11.send(request) + self.h11.send(h11.EndOfMessage())

    def feed(self, data: bytes) -> None:
        self.h11.receive_data(data)

    @property
    def unparsed(self) -> bytes:
        """Received bytes no response has consumed yet."""
        return self.h11.trailing_data[0]

    @property
    def must_close(self) -> bool:
        """The last response ends the connection (connection: close, HTTP/1.0, or its close)."""
        return self.h11.their_state in (h11.MUST_CLOSE, h11.CLOSED)

    def next(self) -> Response | None:
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Response):
                self._head, self._body = event, bytearray()
                headers = _headers(event)
                framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "")
                if not framed and self._method != "HEAD" and event.status_code not in (204, 304):
                    raise h11.RemoteProtocolError(f"{event.status_code} response without content-length (unframed)")
            elif isinstance(event, h11.Data):
                self._body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert self._head is not None
                response = Response(self._head.status_code, _headers(self._head), bytes(self._body))
                self._head = None
                return response
            elif isinstance(event, h11.ConnectionClosed):
                return None


def _headers(event: h11.Response) -> dict[str, str]:
    return {name.decode().lower(): value.decode("latin-1") for name, value in event.headers}


def parse_responses(data: bytes, methods: list[str], ended_by_eof: bool = True) -> tuple[list[Response], str | None]:
    """Splits what a server sent on one connection into responses to requests of `methods` (in
    order; the last one repeats for further responses); returns them and the first problem: a
    malformed or unframed response, an incomplete one, or bytes after one that closes."""
    reader = ResponseReader()
    responses: list[Response] = []
    reader.feed(data)
    try:
        while reader.unparsed:
            if reader.must_close:
                return responses, "connection: close, yet more followed"
            reader.expect(methods[min(len(responses), len(methods) - 1)])
            if ended_by_eof and not reader.h11.trailing_data[1]:
                reader.feed(b"")
            unparsed = len(reader.unparsed)
            response = reader.next()
            if response is None:
                return responses, f"an incomplete response ({len(reader.unparsed)} bytes left)"
            response.size = unparsed - len(reader.unparsed)
            responses.append(response)
    except h11.ProtocolError as error:
        return responses, str(error)
    return responses, None
