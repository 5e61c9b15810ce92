"""A loopback HTTP/1.1 server that answers every GET with what a function says: the stand-in for
another service (the original go-microepoch, a lying /sync, garbage) in the `epoch sync` and
`epoch check` tests. One place for the http.server plumbing both sync test files used to repeat."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# answer(path) -> (status, content type, body)
Answer = Callable[[str], tuple[int, str, bytes]]


class AnsweringServer:
    """Serves `answer(path)` for every GET on 127.0.0.1 at `url`, one thread per connection;
    `delay` seconds before each answer make a server that is too slow (a client's timeout).
    Nagle is off, so an answer leaves at once: the sync tests time the exchange."""

    def __init__(self, answer: Answer, delay: float = 0.0):
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self):  # noqa: N802 - http.server's naming
                if delay:
                    time.sleep(delay)
                status, content_type, body = answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class AnsweringServers:
    """The servers one test started, all closed when it ends: `with AnsweringServers() as servers:
    yield servers.start` is a whole pytest fixture."""

    def __init__(self) -> None:
        self.started: list[AnsweringServer] = []

    def start(self, answer: Answer, **options) -> AnsweringServer:
        self.started.append(AnsweringServer(answer, **options))
        return self.started[-1]

    def __enter__(self) -> "AnsweringServers":
        return self

    def __exit__(self, *exc) -> None:
        for server in self.started:
            server.close()
