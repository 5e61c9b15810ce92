"""Hostile HTTP/1.1 input for test_fuzz.py: what a case is, how one is played on its own connection,
how the answer is judged, and the per-class tally. Hypothesis draws the cases (fuzz_inputs.py).

A `Case` says what a correct server does with its bytes: `allowed` is the set of statuses the
first response may have when the bytes hold a complete request (`complete`), `max_responses`
bounds how many responses they can produce, and `all_ok` asks that each be a 200 (pipelined valid
requests). The player sends the bytes, half-closes (the server then closes, so the whole answer is
known without waiting for a timeout) or keeps the connection open, and reads until the server
closes it, every expected answer has come on a connection the server keeps alive, or
`read_timeout` passes.
"""
from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field

from harness.http import Response, parse_responses

GOOD = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: fuzz\r\n\r\n"
PARSE_ERROR = frozenset({400})
TOO_BIG = frozenset({400, 413, 414, 431})
# What the answer to malformed bytes may weigh when it is larger than they are: one error answer
# (status line, five headers, a JSON sentence that quotes at most 64 characters of the input). A
# TCP client proved its address in the handshake, so a reply larger than a short request amplifies
# nothing; what must never happen is an answer that grows with the bad input (an echo), or more
# than one. The largest error answer measured is printed by the tally (`largest malformed answer`).
ERROR_ANSWER_LIMIT = 1024


@dataclass
class Case:
    category: str
    data: bytes
    complete: bool  # holds at least one complete request: it must be answered
    allowed: frozenset[int]  # statuses the first response may have
    max_responses: int = 1
    all_ok: bool = False  # every response must be a 200 (pipelined valid requests)
    head: bool = False  # a HEAD request: its response has no body
    half_close: bool = True
    valid_prefix: int = 0  # leading GOOD requests before malformed bytes (pipelined garbage)
    settles: bool | None = None  # the server can finish with these bytes without a timeout (default: complete)

    def __post_init__(self) -> None:
        if self.settles is None:
            self.settles = self.complete

    @property
    def expectation(self) -> str:
        """What the bytes are, as the tally counts them: "valid" (every answer a 200), "malformed"
        (bad syntax, or a request the server must refuse: another method, a bad unit, over a
        limit; past `valid_prefix` answers: a 4xx or a close, nothing else), or "either" (RFC 9112
        lets a server accept or reject them, e.g. HTTP/1.2, a bare-LF head, an unknown path's 404;
        never a 5xx)."""
        if self.valid_prefix:
            return "malformed"
        if self.allowed == frozenset({200}):
            return "valid"
        return "either" if 200 in self.allowed else "malformed"

    @property
    def malformed_bytes(self) -> int:
        return len(self.data) - self.valid_prefix * len(GOOD)

    def _repr_pretty_(self, printer, cycle) -> None:  # hypothesis prints a falsifying example with this
        printer.text(repr(self))

    def __repr__(self) -> str:
        shown = self.data if len(self.data) <= 300 else self.data[:300] + b"..."
        return (f"Case({self.category}, {len(self.data)} bytes {shown!r}, half_close={self.half_close}, "
                f"allowed={sorted(self.allowed)})")


@dataclass
class Outcome:
    case: Case
    responses: list[Response] = field(default_factory=list)
    ending: str = ""  # eof, reset, timeout, answered (every expected answer on a kept-alive connection)
    problems: list[str] = field(default_factory=list)
    received: int = 0  # bytes the server sent

    @property
    def malformed_answer(self) -> int:
        """Bytes the server sent in answer to the malformed part (after the valid prefix's answers)."""
        return self.received - sum(r.size for r in self.responses[:self.case.valid_prefix])


# --------------------------------------------------------------------------------------------------
# Playing one case


def methods(case: Case) -> list[str]:
    return ["HEAD", "GET"] if case.head else ["GET"]


def answered_and_kept_alive(case: Case, received: bytes) -> bool:
    """On a connection the client keeps open: every answer the bytes can produce has come, and the
    last does not announce a close (the server keeps the connection for the next request; closing
    idle connections is the idle timeout's job, test_slowloris_and_half_open_connections_are_closed's)."""
    responses, problem = parse_responses(received, methods(case), ended_by_eof=False)
    return (problem is None and len(responses) >= case.max_responses
            and responses[-1].headers.get("connection", "").lower() != "close")


async def play(case: Case, port: int, read_timeout: float) -> Outcome:
    outcome = Outcome(case)
    received = bytearray()
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), read_timeout)
        except (OSError, asyncio.TimeoutError) as error:
            outcome.ending = "connect-failed"
            outcome.problems.append(f"connect failed: {error!r}")
            return outcome
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, case.data), read_timeout)
            if case.half_close:
                sock.shutdown(socket.SHUT_WR)
        except (OSError, asyncio.TimeoutError):
            pass  # the server may close as soon as it has rejected the head; read what it said
        deadline = time.monotonic() + read_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                outcome.ending = "timeout"
                break
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 65536), remaining)
            except asyncio.TimeoutError:
                outcome.ending = "timeout"
                break
            except OSError:
                outcome.ending = "reset"
                break
            if not chunk:
                outcome.ending = "eof"
                break
            received += chunk
            if not case.half_close and case.complete and answered_and_kept_alive(case, bytes(received)):
                outcome.ending = "answered"
                break
    finally:
        try:  # close with RST: thousands of connections in TIME_WAIT would only cost ports
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        sock.close()
    judge(outcome, bytes(received))
    return outcome


def judge(outcome: Outcome, received: bytes) -> None:
    case = outcome.case
    responses, problem = parse_responses(received, methods(case), ended_by_eof=outcome.ending == "eof")
    outcome.responses, outcome.received = responses, len(received)
    if problem:
        outcome.problems.append(f"malformed response: {problem}")
    if case.complete and not responses:
        outcome.problems.append(f"no response to a complete request (connection ended by {outcome.ending})")
    if responses and responses[0].status not in case.allowed:
        outcome.problems.append(f"first status {responses[0].status}, expected one of {sorted(case.allowed)}")
    for response in responses:
        if response.status >= 500:
            outcome.problems.append(f"server error {response.status}")
        if not case.complete and response.status < 400:
            outcome.problems.append(f"{response.status} to an incomplete request")
    if case.all_ok and any(r.status != 200 for r in responses):
        outcome.problems.append(f"statuses {[r.status for r in responses]}, expected all 200")
    if len(responses) > case.max_responses:
        outcome.problems.append(f"{len(responses)} responses, at most {case.max_responses} expected")
    if case.expectation == "malformed":
        for response in responses[case.valid_prefix:]:
            if not 400 <= response.status < 500:
                outcome.problems.append(f"{response.status} to malformed bytes (a 4xx or a close expected)")
        if outcome.malformed_answer > max(case.malformed_bytes, ERROR_ANSWER_LIMIT):
            outcome.problems.append(
                f"a reply of {outcome.malformed_answer} bytes to {case.malformed_bytes} malformed bytes: larger than "
                f"its request and than one error answer ({ERROR_ANSWER_LIMIT} bytes)")
    if outcome.ending == "timeout":
        if case.half_close:
            outcome.problems.append("connection still open after the client half-closed it")
        elif responses and responses[-1].headers.get("connection", "").lower() == "close":
            outcome.problems.append("connection: close, yet the server kept the connection open")
        else:
            # A request kept open unfinished: the server must close it, by the request timeout.
            outcome.problems.append("connection neither answered-and-closed nor closed by the request timeout")


class Player:
    """Plays cases against a server on a loopback port, one at a time (a hypothesis example) or a
    batch at once, on one event loop kept for the whole run."""

    def __init__(self, port: int, read_timeout: float = 6.0):
        self.port, self.read_timeout = port, read_timeout
        self.runner = asyncio.Runner()

    def play(self, case: Case) -> Outcome:
        return self.runner.run(play(case, self.port, self.read_timeout))

    def play_all(self, cases: list[Case], concurrency: int = 64) -> list[Outcome]:
        async def all_of() -> list[Outcome]:
            semaphore = asyncio.Semaphore(concurrency)

            async def one(case: Case) -> Outcome:
                async with semaphore:
                    return await play(case, self.port, self.read_timeout)
            return await asyncio.gather(*(one(case) for case in cases))
        return self.runner.run(all_of())

    def close(self) -> None:
        self.runner.close()


def describe(outcome: Outcome) -> str:
    return (f"{outcome.case!r}: {outcome.problems}; got {[r.status for r in outcome.responses]} "
            f"({outcome.received} bytes), ended by {outcome.ending}")


# --------------------------------------------------------------------------------------------------
# The tally: what each class got


def answer_of(outcome: Outcome) -> str:
    """What the tally counts for one case: the statuses of its answers to the malformed part (or
    to all of it), or how the connection ended without one."""
    case = outcome.case
    responses = outcome.responses[case.valid_prefix:] if case.expectation == "malformed" else outcome.responses
    if case.expectation == "valid" and responses and all(r.status == 200 for r in responses):
        return "all 200"
    if responses:
        return "+".join(str(r.status) for r in responses[:3]) + ("+..." if len(responses) > 3 else "")
    return f"closed, no answer ({outcome.ending})"


class Tally:
    """Per input class: how many cases were malformed, valid or either, what each kind got, and the
    largest answer to malformed bytes; kept as counts (the cases themselves are not)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.statuses: Counter[int] = Counter()
        self.endings: Counter[str] = Counter()
        self.bytes_sent = 0
        self.failed = 0

    def add(self, outcome: Outcome) -> None:
        case = outcome.case
        row = self.rows.setdefault(case.category, {
            "cases": 0, "malformed": 0, "valid": 0, "either": 0, "kept open": 0, "largest malformed answer": 0,
            "got": {"malformed": Counter(), "valid": Counter(), "either": Counter()}})
        row["cases"] += 1
        row[case.expectation] += 1
        row["kept open"] += not case.half_close
        row["got"][case.expectation][answer_of(outcome)] += 1
        if case.expectation == "malformed":
            row["largest malformed answer"] = max(row["largest malformed answer"], outcome.malformed_answer)
        self.statuses.update(r.status for r in outcome.responses)
        self.endings[outcome.ending] += 1
        self.bytes_sent += len(case.data)
        self.failed += bool(outcome.problems)

    @property
    def cases(self) -> int:
        return sum(row["cases"] for row in self.rows.values())

    def line(self, category: str) -> str:
        row = self.rows.get(category)
        if row is None:
            return f"{category:19} no case played"
        got = "; ".join(f"{kind} -> {dict(counter.most_common(6))}" for kind, counter in row["got"].items() if counter)
        return (f"{category:19} {row['cases']:5} ({row['malformed']} / {row['valid']} / {row['either']}, "
                f"{row['kept open']} kept open, largest malformed answer {row['largest malformed answer']} B): {got}")

    def summary(self) -> dict:
        return {"cases": self.cases, "bytes_sent": self.bytes_sent, "failed_cases": self.failed,
                "response_statuses": dict(sorted(self.statuses.items())), "endings": dict(self.endings)}
