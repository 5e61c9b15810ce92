"""Hostile input against the release binary (docs/reliability.md): hypothesis draws malformed and
adversarial requests class by class (harness/fuzz_inputs.py), each played on its own connection and
judged (harness/fuzz.py); then slowloris and half-open connections, and a flood of idle
connections. The server must stay up, answer every complete request with a well-formed response
(4xx for bad input, never larger than one error answer unless the request is), close what never
completes, keep its memory, and keep answering GET /.

A failure replays: the seed is fixed (FUZZ_SEED, printed), hypothesis keeps every failing example,
shrunk, in .build/hypothesis/fuzz/<class>/ and tries it first on the next run, and prints the
minimal case with a @reproduce_failure blob. FUZZ_CASES sets the corpus size (shared by weight)."""
from __future__ import annotations

import asyncio
import os
import resource
import shutil
import socket
import struct
import time

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

from harness.fuzz import GOOD, Case, Outcome, Player, Tally, describe, judge
from harness.fuzz_inputs import INPUT_CLASSES, held_open, random_bytes
from harness.http import EPOCH_JSON_RE, http_get, parse_responses, wait_for_http
from harness.padding_relay import PaddingRelay
from harness.paths import REPO_ROOT
from harness.servers import EpochProcess, rss_kib

pytestmark = pytest.mark.fuzz  # make fuzz-test

SEED = int(os.environ.get("FUZZ_SEED", "20261125"))
CASES = int(os.environ.get("FUZZ_CASES", "12600"))  # shared by the classes' weights; held-open comes on top
BATCH = 20  # cases in one hypothesis example, played at once
# Unfinished requests held open: each waits out a timeout, so their server has short ones, and a
# batch holds them all at once (under the server's 256-connection cap); the first batch hypothesis
# draws is the simplest one.
HELD_OPEN_BATCHES, HELD_OPEN_BATCH = 3, 150
HELD_OPEN_TIMEOUTS = ("--request-timeout", "500ms", "--idle-timeout", "1s")
DATABASE = REPO_ROOT / ".build" / "hypothesis"
REQUEST_TIMEOUT = 2.0  # --request-timeout of the server under test
IDLE_TIMEOUT = 4.0  # --idle-timeout: half-open connections that never send are closed by it
FLOOD = 1500
SERVER_ARGS = ("--request-timeout", f"{REQUEST_TIMEOUT:g}s", "--idle-timeout", f"{IDLE_TIMEOUT:g}s", "--threads", "2")


def fuzz_settings(database: str, max_examples: int, **overrides) -> settings:
    """Hypothesis for a network test: no deadline (the machine is shared), no explain phase (it
    replays variants of a failure one connection at a time), the database under .build/."""
    chosen = dict(max_examples=max_examples, database=DirectoryBasedExampleDatabase(DATABASE / database),
                  deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink), print_blob=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    return settings(**{**chosen, **overrides})


def assert_serves(server: EpochProcess) -> None:
    assert server.process.poll() is None, f"the server died:\n{server.output()[-3000:]}"
    status, headers, body = http_get(server.url + "/")
    assert status == 200 and EPOCH_JSON_RE.match(body.decode()), (status, body)
    assert http_get(server.url + "/healthz")[0] == 200


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def assert_no_crash_output(server: EpochProcess) -> None:
    output = server.output()
    for marker in ("Fatal error", "fatal error", "Illegal instruction", "Segmentation fault", "Current stack trace",
                   "precondition", "assertion"):
        assert marker not in output, f"server output mentions {marker!r}:\n{output[-3000:]}"


class FuzzTarget:
    """The server the corpus is played against. When a batch kills it, that batch fails with the
    server's last words, and the next batch finds a new server on the same port: hypothesis can
    then go on shrinking the batch to the case that crashed it. Any restart fails the survival test."""

    def __init__(self, binary, *args: str):
        self.binary, self.args = binary, args or SERVER_ARGS
        self.server = EpochProcess(binary, *self.args).wait_ready()
        self.deaths: list[str] = []

    def died(self) -> str | None:
        if self.server.process.poll() is None:
            return None
        last_words = self.server.output()[-2000:]
        self.deaths.append(last_words)
        self.server = EpochProcess(self.binary, *self.args, port=self.server.port).wait_ready()
        return last_words


@pytest.fixture(scope="module")
def target(release_binary):
    target = FuzzTarget(release_binary)
    for _ in range(200):  # warm up: the idle RSS is that of a server that has served
        assert http_get(target.server.url + "/")[0] == 200
    time.sleep(0.5)
    target.idle_rss_kib = rss_kib(target.server.process.pid)
    target.idle_descriptors = open_descriptors(target.server.process.pid)
    yield target
    target.server.stop()


@pytest.fixture(scope="module")
def server(target) -> EpochProcess:
    return target.server


@pytest.fixture(scope="module")
def player(target):
    player = Player(target.server.port)
    yield player
    player.close()


@pytest.fixture(scope="module")
def tally():
    return Tally()


def played(player: Player, tally: Tally, cases: list[Case]) -> list[Outcome]:
    """Plays a batch at once, counts every outcome; returns the failed ones."""
    outcomes = player.play_all(cases, concurrency=len(cases))
    for outcome in outcomes:
        tally.add(outcome)
    return [outcome for outcome in outcomes if outcome.problems]


def assert_none_failed(failed: list[Outcome], cases: list[Case]) -> None:
    # Hypothesis shrinks the batch: the failing case to its smallest form, the others to the
    # simplest input of their class.
    assert not failed, f"{len(failed)} of {len(cases)} cases failed; the first: {describe(failed[0])}"


def assert_alive(target: FuzzTarget) -> None:
    last_words = target.died()
    assert last_words is None, f"the server died; its output ended:\n{last_words}"


def examples_of(input_class: str) -> int:
    """The hypothesis examples (batches) of a class: its weight's share of CASES."""
    share = round(CASES * INPUT_CLASSES[input_class][1] / sum(w for _, w in INPUT_CLASSES.values()))
    return max(1, share // BATCH)


def hostile_input_test(input_class: str):
    """The test of one input class: its share of CASES, drawn by its strategy in batches of BATCH,
    each case on its own connection, a batch at once (one hypothesis example: a case alone costs
    hypothesis 1-4 ms, in a batch 0.1-1 ms)."""
    strategy, _ = INPUT_CLASSES[input_class]

    @fuzz_settings(f"fuzz/{input_class}", examples_of(input_class))
    @seed(SEED)
    @given(cases=st.lists(strategy, min_size=BATCH, max_size=BATCH))
    def every_case_is_answered_well(target, player, tally, cases):
        failed = played(player, tally, cases)
        assert_alive(target)
        assert_none_failed(failed, cases)

    def test(target, player, tally):
        every_case_is_answered_well(target, player, tally)
        print(f"\n{tally.line(input_class)}")
    test.__doc__ = (f"{examples_of(input_class) * BATCH} cases of class {input_class} (FUZZ_SEED={SEED}): "
                    "each answered as its case says.")
    return test


def test_the_checker_rejects_broken_answers():
    """The oracle itself: a response after `connection: close`, an unframed response, a 5xx, a
    missing answer, a 200 to garbage and an answer larger than the bad request and one error
    answer must each be reported."""
    good = (b'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}')
    bad_request = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    verbose_error = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 1100\r\n\r\n" + b" " * 1100
    complete = Case("t", b"x", True, frozenset({400}))
    cases = {
        "more followed": (complete, bad_request + bad_request, "eof"),
        "unframed": (complete, b"HTTP/1.1 400 Bad Request\r\n\r\n", "eof"),
        "server error": (Case("t", b"x", True, frozenset({400, 500})), b"HTTP/1.1 500 X\r\nContent-Length: 0\r\n\r\n", "eof"),
        "no response": (complete, b"", "eof"),
        "first status 200": (complete, good, "eof"),
        "still open": (complete, bad_request, "timeout"),
        "incomplete": (Case("t", b"x", False, frozenset({400})), good, "eof"),
        "larger than its request": (complete, verbose_error, "eof"),
    }
    for expected, (case, received, ending) in cases.items():
        outcome = Outcome(case, ending=ending)
        judge(outcome, received)
        assert any(expected in problem for problem in outcome.problems), (expected, outcome.problems)
    ok = Outcome(complete, ending="eof")
    judge(ok, bad_request)
    assert ok.problems == []
    long_request = Outcome(Case("t", b"x" * 2000, True, frozenset({400})), ending="eof")
    judge(long_request, verbose_error)  # 1,100 bytes of answer to 2,000 bad ones: no amplification
    assert long_request.problems == []
    assert len(parse_responses(good * 3, ["GET"])[0]) == 3
    # A malformed case answered 200 is caught, even where the status set would allow it.
    garbage = Outcome(Case("t", GOOD + b"\x00", True, frozenset({200}), max_responses=2, valid_prefix=1), ending="eof")
    judge(garbage, good + good)
    assert any("200 to malformed bytes" in problem for problem in garbage.problems), garbage.problems


# One test per input class, in the order of INPUT_CLASSES: test_hostile_random_bytes, ...
for _input_class in INPUT_CLASSES:
    globals()["test_hostile_" + _input_class.replace("-", "_")] = hostile_input_test(_input_class)


def test_requests_left_unfinished_on_an_open_connection_are_closed(release_binary, tally):
    """HELD_OPEN_BATCHES batches of HELD_OPEN_BATCH connections, all at once, that send an
    unfinished request and keep the connection open: the server closes each by its request
    timeout, or by its idle timeout when nothing of a request has come (a 4xx first is fine, a 2xx
    never)."""
    target = FuzzTarget(release_binary, *HELD_OPEN_TIMEOUTS, "--threads", "2")
    player = Player(target.server.port)

    @fuzz_settings("fuzz/held-open", HELD_OPEN_BATCHES)
    @seed(SEED)
    @given(cases=st.lists(held_open(), min_size=HELD_OPEN_BATCH, max_size=HELD_OPEN_BATCH))
    def every_connection_is_closed(cases):
        failed = played(player, tally, cases)
        assert_alive(target)
        assert_none_failed(failed, cases)

    try:
        every_connection_is_closed()
    finally:
        player.close()
        assert target.server.stop() == 0
    assert target.deaths == []
    print(f"\n{tally.line('held-open')}")


def test_control_a_server_padding_its_error_answers_fails_shrinks_and_replays(target):
    """The control: the same strategy and checks against the server behind a relay that pads every
    4xx answer to 4 KiB (harness/padding_relay.py) must fail, hypothesis must shrink the failure
    to one byte of random input (in a batch whose other cases it made the same), and the database
    alone (no generation) must replay it."""
    relay = PaddingRelay(target.server.port, pad_to=4096)
    player = Player(relay.port)
    database = f"fuzz-control/{SEED}"
    shutil.rmtree(DATABASE / database, ignore_errors=True)
    failing: list[Outcome] = []

    def run(phases) -> AssertionError:
        @fuzz_settings(database, 100, phases=phases)
        @seed(SEED)
        @given(cases=st.lists(random_bytes(), min_size=BATCH, max_size=BATCH))
        def every_case_is_answered_well(cases):
            failed = played(player, Tally(), cases)
            failing.extend(failed[:1])
            assert_none_failed(failed, cases)

        with pytest.raises(AssertionError) as failure:
            every_case_is_answered_well()
        return failure.value

    try:
        found = run((Phase.generate, Phase.shrink))
        minimal = failing[-1]  # hypothesis ends by running the shrunk example once more
        print(f"\ncontrol: {len(failing)} failing runs while shrinking; minimal: {describe(minimal)}")
        print("what hypothesis reports with the failure:\n" + "\n".join(getattr(found, "__notes__", []))[:1500])
        assert "larger than its request" in str(found)
        assert len(minimal.case.data) == 1, describe(minimal)
        failing.clear()
        replayed = run((Phase.reuse,))
        assert failing and failing[0].case.data == minimal.case.data, (failing[:1], str(replayed))
    finally:
        player.close()
        relay.close()


def test_per_class_malformed_gets_4xx_or_close_and_valid_gets_200(tally):
    """Over the whole corpus, what the tally counted: every planned case played (12,600, and 400
    held open, by default), every malformed input answered by a 4xx or a close, every valid one
    by 200s only, and both kinds well represented. Skipped when a -k selection left classes out."""
    missing = [name for name in [*INPUT_CLASSES, "held-open"] if name not in tally.rows]
    if missing:
        pytest.skip(f"classes not run in this session: {missing}")
    print(f"\n=== fuzz corpus (FUZZ_SEED={SEED}) ===\n{tally.summary()}")
    print("=== per class: cases (malformed / valid / either) and what each kind got ===")
    for category in tally.rows:
        print(tally.line(category))
    planned = sum(examples_of(name) for name in INPUT_CLASSES) * BATCH + HELD_OPEN_BATCHES * HELD_OPEN_BATCH
    assert tally.cases >= planned
    for category, row in tally.rows.items():
        for answer in row["got"]["malformed"]:
            assert answer.startswith("closed") or all(part.startswith("4") for part in answer.rstrip("+.").split("+")), (
                category, answer)
        assert set(row["got"]["valid"]) <= {"all 200"}, (category, row["got"]["valid"])
    assert sum(row["malformed"] for row in tally.rows.values()) > 0.6 * tally.cases
    assert sum(row["valid"] for row in tally.rows.values()) > 0.05 * tally.cases
    assert {200, 400} <= set(tally.statuses)


def test_the_server_survives_the_corpus_with_its_memory(target, tally):
    assert target.deaths == [], f"the server died {len(target.deaths)} times; first:\n{target.deaths[:1]}"
    server = target.server
    assert_serves(server)
    assert_no_crash_output(server)
    # Let every leftover connection go (the idle timeout closes any the corpus left open): until the
    # server holds no more descriptors than at idle.
    deadline = time.monotonic() + IDLE_TIMEOUT + 1
    while open_descriptors(server.process.pid) > target.idle_descriptors and time.monotonic() < deadline:
        time.sleep(0.1)
    after = rss_kib(server.process.pid)
    print(f"\nRSS: idle {target.idle_rss_kib} KiB, after {tally.cases} hostile cases {after} KiB "
          f"({after / target.idle_rss_kib:.2f}x)")
    assert after <= 2 * target.idle_rss_kib


def test_slowloris_and_half_open_connections_are_closed(server, tally):
    """Three kinds of connections that never finish a request: a slowloris trickling a header byte
    every 0.2 s, one that sends part of a head and goes silent, one that sends nothing. The server
    must close every one of them itself (request timeout, idle timeout) and meanwhile answer GET /."""
    per_kind = 60
    bound = 5 * (REQUEST_TIMEOUT + IDLE_TIMEOUT)  # only a bound for a test that must end

    async def connection(kind: str) -> str:
        started = time.monotonic()
        ending = await hang_on(kind)
        closed_after[kind].append(time.monotonic() - started)
        return ending

    closed_after: dict[str, list[float]] = {"slowloris": [], "partial": [], "silent": []}

    async def hang_on(kind: str) -> str:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, ("127.0.0.1", server.port))
            if kind == "partial":
                await loop.sock_sendall(sock, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            trickle = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Loris: 1\r\n" * 10_000
            deadline = time.monotonic() + bound
            position = 0
            while time.monotonic() < deadline:
                if kind == "slowloris":
                    try:
                        await loop.sock_sendall(sock, trickle[position:position + 1])
                    except OSError:
                        return "closed"
                    position += 1
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.2)
                except asyncio.TimeoutError:
                    continue
                except OSError:
                    return "closed"
                if not data:
                    return "closed"
                if not data.startswith(b"HTTP/1.1 4"):
                    return f"answered {data[:40]!r}"
            return "still open"
        finally:
            sock.close()

    async def scenario():
        tasks = [asyncio.create_task(connection(kind)) for kind in ("slowloris", "partial", "silent")
                 for _ in range(per_kind)]
        await asyncio.sleep(1.0)
        status, _, body = await asyncio.to_thread(http_get, server.url + "/")  # while they hang on
        return status, body, await asyncio.gather(*tasks)

    status, body, endings = asyncio.run(scenario())
    assert status == 200 and EPOCH_JSON_RE.match(body.decode())
    print(f"\nslowloris/partial/silent connections: {dict((e, endings.count(e)) for e in set(endings))}; "
          "closed after (max s): " + ", ".join(f"{k} {max(v):.1f}" for k, v in closed_after.items()))
    assert endings == ["closed"] * (3 * per_kind)
    assert_serves(server)


def raise_nofile_limit(wanted: int) -> None:
    """The flood needs more descriptors than the default 1024; the server inherits the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        assert hard == resource.RLIM_INFINITY or hard >= wanted, f"RLIMIT_NOFILE hard limit {hard} < {wanted}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else wanted + 800, hard))


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed (or reset) this connection, without waiting."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def test_a_flood_of_idle_connections_does_not_stop_get(release_binary):
    """FLOOD connections that never finish a request, held open. Each one is either accepted (the
    server holds it) or refused (the connect fails, or the server closes it at once: a connection
    cap). Whichever the server does, it stays up, and once the flood is gone it answers at once;
    with no refusals it must answer GET / during the flood too."""
    raise_nofile_limit(FLOOD + 200)
    # The default idle timeout (75 s) keeps the flood open.
    server = EpochProcess(release_binary, "--threads", "2").wait_ready()
    baseline = open_descriptors(server.process.pid)  # the listener, epoll, eventfds, the log: before any flood
    sockets: list[socket.socket] = []
    connect_failed = 0
    try:
        for index in range(FLOOD):
            try:
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            except OSError:
                connect_failed += 1
                continue
            if index % 3 == 1:
                try:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # an unfinished head
                except OSError:
                    pass  # closed at accept: counted below
            sockets.append(sock)
        # The server holds a descriptor for each connection it kept (they are not waiting in the
        # listen backlog). It accepts and closes at its own pace: poll (bounded) until it has taken
        # every connection from the backlog, rather than trust a fixed sleep on a loaded machine.
        deadline = time.monotonic() + 10
        while True:
            closed = sum(1 for sock in sockets if closed_by_server(sock))
            accepted, refused = len(sockets) - closed, connect_failed + closed
            held = open_descriptors(server.process.pid) - baseline
            if held >= accepted or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        during = None
        try:
            during = http_get(server.url + "/", timeout=5)[0]
        except OSError as error:
            during = f"{type(error).__name__}"
        print(f"\nflood: {FLOOD} connections: {accepted} accepted and held open, {refused} refused "
              f"({connect_failed} at connect, {closed} closed by the server); the server holds {held} descriptors more than before; "
              f"GET / during the flood: {during}; RSS {rss_kib(server.process.pid)} KiB")
        assert accepted + refused == FLOOD
        assert held >= accepted
        assert server.process.poll() is None, "the server died under the flood"
        if refused == 0:
            for _ in range(20):
                assert_serves(server)
    finally:
        for sock in sockets:
            sock.close()
    # Until the server has seen every close, a new connection may still be over its cap (bounded).
    wait_for_http(server.url + "/", timeout=10)
    assert_serves(server)
    assert_no_crash_output(server)
    assert server.stop() == 0


PIPELINE_CONNECTIONS = 4
PIPELINE_BYTES = 4 * 1024 * 1024  # per connection: ~76,000 requests, ~15 MB of answers


def test_a_client_that_pipelines_without_reading(release_binary):
    """PIPELINE_CONNECTIONS clients each send PIPELINE_BYTES of pipelined GET / and never read an
    answer. A server with backpressure stops reading once its answers back up (the send then stalls
    here); one without queues every answer in memory. Either way it must survive and answer a
    normal client meanwhile; the figures (bytes it took, RSS) are printed."""
    server = EpochProcess(release_binary, "--threads", "2").wait_ready()
    pid = server.process.pid
    before = rss_kib(pid)
    chunk = GOOD * (65536 // len(GOOD))
    sockets: list[socket.socket] = []
    taken: list[int] = []
    try:
        for _ in range(PIPELINE_CONNECTIONS):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sockets.append(sock)
            sock.settimeout(2.0)  # a send that stalls this long: the server stopped reading
            total = 0
            while total < PIPELINE_BYTES:
                try:
                    total += sock.send(chunk)
                except (socket.timeout, OSError):
                    break
            taken.append(total)
        time.sleep(1.0)
        loaded = rss_kib(pid)
        assert_serves(server)  # a normal client is answered while the answers pile up
    finally:
        for sock in sockets:  # abort: never read what was sent back
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
    time.sleep(1.0)
    after = rss_kib(pid)
    peak = int(next(line.split()[1] for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM:")))
    stalled = sum(1 for total in taken if total < PIPELINE_BYTES)
    print(f"\npipelining without reading: {PIPELINE_CONNECTIONS} connections took "
          f"{[round(t / 2**20, 1) for t in taken]} MiB ({stalled} stalled: the server stopped reading); "
          f"RSS before {before} KiB, loaded {loaded} KiB, peak (VmHWM) {peak} KiB, after the clients left {after} KiB")
    assert_serves(server)
    assert_no_crash_output(server)
    assert server.stop() == 0


def test_a_connect_request_gets_a_405_and_a_closed_connection(server):
    """After CONNECT, NIO's decoder treats the connection as a tunnel and parses nothing more, and
    its encoder frames every answer to CONNECT as bodiless (RFC 9110 asks that of 2xx only): so the
    server answers 405 with `connection: close` and closes (a close-delimited message, RFC 9112
    §6.3), and the client does not wait for a timeout."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT + 2) as sock:
        sock.sendall(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):  # until the server closes: a timeout here fails the test
            received += chunk
    head = received.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 405 method not allowed\r\n"), received
    assert b"\r\nconnection: close" in head and b"\r\nallow: get, head" in head
    assert received.count(b"HTTP/1.1") == 1, "nothing is answered after CONNECT"
    assert_serves(server)
