"""The NTP server as clients expect it (RFC 5905, RFC 4330, chrony 4.3): the classic zero-transmit
SNTP request is answered, a length that is not 48 plus a multiple of 4 is dropped and counted,
--ntp-refid is in every reply, and --ntp-rate-limit answers a flooding address with Kiss-o'-Death
RATE while another address is still served. Each proof has its control (make ntp-test)."""
from __future__ import annotations

import socket
import struct
import subprocess

import pytest

from harness.http import http_get

pytestmark = pytest.mark.ntp  # make ntp-test


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ntp_server(epoch_server):
    def start(*args: str):
        port = free_udp_port()
        return epoch_server("--ntp-port", str(port), *args), port

    return start


def ask(port: int, request: bytes, source: str = "127.0.0.1", timeout: float = 0.5) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            return sock.recvfrom(2048)[0]
        except socket.timeout:
            return None


def client_request(transmit: int = 0x0123456789ABCDEF) -> bytes:
    return b"\x23\x00\x06\xec" + bytes(36) + struct.pack("!Q", transmit)


def fields(reply: bytes) -> dict:
    first, stratum, poll, precision, delay, dispersion, refid = struct.unpack_from("!BBbbIII", reply)
    origin, receive, transmit = struct.unpack_from("!QQQ", reply, 24)
    return {"leap": first >> 6, "version": (first >> 3) & 7, "mode": first & 7, "stratum": stratum,
            "refid": refid, "origin": origin, "receive": receive, "transmit": transmit}


def metrics(server) -> str:
    return http_get(server.url + "/metrics")[2].decode()


def test_a_zero_transmit_request_gets_a_mode_4_reply_with_a_zero_origin(ntp_server):
    server, port = ntp_server("--ntp-serve-unsynchronized")
    reply = ask(port, b"\x1b" + bytes(47))  # RFC 4330's classic SNTPv3 request
    assert reply is not None, "the classic 0x1b + 47 zero bytes got no reply"
    answer = fields(reply)
    assert len(reply) == 48 and answer["mode"] == 4 and answer["version"] == 3
    assert answer["origin"] == 0 and answer["receive"] != 0 and answer["transmit"] != 0
    # Control: a request with a transmit time gets it back as the origin.
    assert fields(ask(port, client_request(0x1122334455667788)))["origin"] == 0x1122334455667788


def test_a_length_that_is_not_48_plus_words_gets_nothing_and_is_counted(ntp_server):
    server, port = ntp_server("--ntp-serve-unsynchronized")
    assert ask(port, client_request() + b"\x00") is None  # 49 bytes
    assert ask(port, client_request() + bytes(3)) is None  # 51 bytes
    # Control: 48 + 4 (a word of extension data, as a MAC's key ID would be) is answered.
    reply = ask(port, client_request() + bytes(4))
    assert reply is not None and len(reply) == 48
    assert 'epoch_ntp_dropped_packets_total{reason="bad_length"} 2' in metrics(server)


def test_the_refid_is_in_every_reply(ntp_server):
    server, port = ntp_server("--ntp-refid", "192.0.2.1")
    synchronized_lab, lab_port = ntp_server("--ntp-refid", "192.0.2.1", "--ntp-serve-unsynchronized")
    replies = [ask(port, client_request(n)) for n in range(1, 4)] + [ask(lab_port, client_request(n)) for n in range(1, 4)]
    assert all(r is not None for r in replies)
    assert {fields(r)["refid"] for r in replies} == {0xC0000201}
    # Control: without the option the reference ID is 0.
    _, plain = ntp_server("--ntp-serve-unsynchronized")
    assert fields(ask(plain, client_request()))["refid"] == 0


def test_a_bad_refid_is_one_line_and_exit_2(release_binary):
    done = subprocess.run([str(release_binary), "serve", "--port", "0", "--ntp-port", "0", "--ntp-refid", "192.0.2"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert done.stderr.strip() == "epoch: --ntp-refid 192.0.2 is invalid: it accepts an IPv4 address A.B.C.D"


def burst(port: int, count: int, source: str) -> list[dict]:
    """`count` requests one after the other from `source`, each waiting for its answer."""
    answers = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(1.0)
        for n in range(count):
            sock.sendto(client_request(n + 1), ("127.0.0.1", port))
            reply, _ = sock.recvfrom(2048)
            answers.append(fields(reply))
    return answers


@pytest.mark.parametrize("limited", [True, False], ids=["rate-limit", "control-off"])
def test_a_burst_gets_kiss_of_death_rate_while_another_address_is_served(ntp_server, limited):
    server, port = ntp_server("--ntp-serve-unsynchronized", *(["--ntp-rate-limit"] if limited else []))
    answers = burst(port, 200, "127.0.0.1")
    kisses = [a for a in answers if a["stratum"] == 0 and a["refid"] == int.from_bytes(b"RATE", "big")]
    normal = [a for a in answers if a["stratum"] == 3]
    print(f"{'limited' if limited else 'unlimited'}: {len(normal)} answers, {len(kisses)} KoD RATE of 200")
    assert all(a["origin"] == n + 1 for n, a in enumerate(answers))  # every reply, KoD too, is to its request
    other = burst(port, 3, "127.0.0.2")
    assert [a["stratum"] for a in other] == [3, 3, 3], "another address must still be served"
    if limited:
        assert all(a["stratum"] == 3 for a in answers[:8]), "chrony's default burst of 8 is answered"
        assert kisses and all(a["leap"] == 3 for a in kisses)
        # chrony's leak 2: about one in four limited requests is answered anyway.
        assert 192 // 8 < len(normal) - 8 < 192 // 2
        assert f"epoch_ntp_kiss_of_death_total{{code=\"RATE\"}} {len(kisses)}" in metrics(server)
    else:
        assert not kisses and len(normal) == 200


@pytest.mark.parametrize("option, value", [("--ntp-rate-burst", "0"), ("--ntp-rate-leak", "5"), ("--ntp-rate-interval", "13")])
def test_bad_rate_limit_settings_are_one_line_and_exit_2(release_binary, option, value):
    done = subprocess.run([str(release_binary), "serve", "--port", "0", "--ntp-port", "0", "--ntp-rate-limit",
                           option, value], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith(f"epoch: {option} {value} is invalid"), done.stderr
