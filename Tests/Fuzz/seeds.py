#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into Tests/Fuzz/corpus/<target>/ (committed; make
fuzz-coverage reads them). Run with .venv-roughtime/bin/python (roughly 0.3.0 builds the Roughtime
requests, as a real client does). Every seed says where it comes from; the whole stays far under 1 MB.
"""
import base64
import pathlib
import struct
import sys

from roughly.client import build_request

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def write(target: str, name: str, data: bytes) -> None:
    folder = ROOT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def ntp() -> None:
    # chrony 4.3's client request, captured on loopback 2026-12-01 (Tests/EpochCoreTests/NTPPacketTests.swift).
    chrony = bytes([0x23, 0x00, 0x06, 0x20]) + bytes(36) + bytes.fromhex("95eaeff6f0eb9511")
    write("ntp", "chrony-4.3-request", chrony)
    # ntpsec's ntpdig 1.2.2 request (LI 3, VN 4, mode 3), captured on 127.0.0.1:123 on 2026-12-03.
    write("ntp", "ntpdig-request", bytes.fromhex("e3" + "00" * 39 + "eebbbbf2d9f4b000"))
    # RFC 5905 §7.3 header with a 20-byte MAC (key id + MD5), as ntpd's symmetric-key clients send.
    write("ntp", "request-with-mac", chrony + struct.pack(">I", 1) + bytes(range(16)))
    # RFC 7822 / RFC 8915 §5.3: extension fields after the header: Unique Identifier (0x0104),
    # NTS Cookie (0x0204) and an NTS Authenticator (0x0404) with a nonce and ciphertext length.
    uid = struct.pack(">HH", 0x0104, 36) + bytes(range(32))
    cookie = struct.pack(">HH", 0x0204, 68) + bytes(64)
    auth = struct.pack(">HHHH", 0x0404, 40, 16, 16) + bytes(range(16)) + bytes(16)
    write("ntp", "nts-request-fields", chrony + uid + cookie + auth)
    # A server reply (mode 4), an ntpq control request (mode 6), ntpdc's monlist (mode 7, CVE-2013-5211).
    write("ntp", "server-reply", bytes([0x24, 2, 6, 0xE3]) + bytes(36) + bytes.fromhex("95eaeff6f0eb9511"))
    write("ntp", "ntpq-readvar", bytes.fromhex("160200010000000000000000"))
    write("ntp", "ntpdc-monlist", bytes.fromhex("17000304") + bytes(44))
    write("ntp", "version-1", bytes([0x0B]) + bytes(39) + bytes.fromhex("95eaeff6f0eb9511"))


def roughtime_server() -> None:
    # roughly's requests, offering every version it speaks, one each, and naming our server (SRV).
    public_key = long_term_public_key()
    nonce = bytes([2]) * 32
    write("roughtime-server", "roughly-default", build_request(nonce=nonce).dump())
    write("roughtime-server", "roughly-version-1", build_request(versions=[1], nonce=nonce).dump())
    write("roughtime-server", "roughly-draft-12", build_request(versions=[0x8000000C], nonce=nonce).dump())
    write("roughtime-server", "roughly-srv", build_request(versions=[1], public_key=public_key, nonce=nonce).dump())


def long_term_public_key() -> bytes:
    # The long-term seed 00 01 … 1f of Tests/EpochCoreTests/RoughtimeVectors.swift.
    return base64.b64decode("A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=")


def roughtime_client() -> None:
    # roughly 0.3.0's replies (RFC version 1 and draft 12) of Tests/EpochCoreTests/RoughtimeVectors.swift.
    vectors = (pathlib.Path(__file__).resolve().parent.parent / "EpochCoreTests" / "RoughtimeVectors.swift").read_text()
    for name in ("replyVersion1", "replyDraft12"):
        block = vectors.split(f"static let {name} = bytes(")[1].split(")")[0]
        hex_text = "".join(part.split('"')[1] for part in block.split("+"))
        write("roughtime-client", f"roughly-{name}", bytes.fromhex(hex_text))


HTTP = [
    ("get-root", 0, 0, b"GET / HTTP/1.1\r\nHost: epoch\r\n\r\n"),
    ("get-sync", 0, 0, b"GET /sync?t1=1796114096000000000 HTTP/1.1\r\nHost: epoch\r\nAccept: application/json\r\n\r\n"),
    ("pipelined", 0, 1, b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /clock HTTP/1.1\r\nHost: a\r\n\r\nHEAD /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("split-reads", 7, 1, b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\nGET /version HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("http10-keepalive", 0, 0, b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n"),
    ("post-body", 5, 1, b"POST /sync HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    ("chunked", 0, 0, b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("upgrade", 0, 0, b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
    ("connect", 0, 0, b"CONNECT epoch:443 HTTP/1.1\r\nHost: epoch:443\r\n\r\n"),
    ("absolute-form", 0, 0, b"GET http://epoch/sync?t1=1 HTTP/1.1\r\nHost: epoch\r\n\r\n"),
    ("no-host", 0, 0, b"GET / HTTP/1.1\r\n\r\n"),
    ("malformed", 0, 0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGE\x00T / HTTP/9.9\r\n\r\n"),
    ("backpressure", 16, 3, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 4),
    ("drain", 0, 4, b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /sync HTTP/1.1\r\nHost"),
    ("slow", 1, 9, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: 1"),
    ("large-header", 0, 0, b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"x" * 1100 + b"\r\n\r\n"),
]


def http() -> None:
    # [chunk size][flags] then the bytes (Tests/Fuzz/http/main.swift), written for the epoch routes.
    for name, chunk, flags, body in HTTP:
        write("http", name, bytes([chunk, flags]) + body)


def record(kind: int, body: bytes = b"", critical: bool = True) -> bytes:
    # One NTS-KE record (RFC 8915 §4): critical bit and type, body length, body.
    return struct.pack(">HH", kind | (0x8000 if critical else 0), len(body)) + body


EOM = record(0)
# chrony 4.3's request, captured (Tests/EpochCoreTests/NTSKETests.swift): NTPv4, AEAD 15, End of Message.
CHRONY_KE = bytes([0x80, 1, 0, 2, 0, 0, 0x80, 4, 0, 2, 0, 15, 0x80, 0, 0, 0])
NTS_KE = [
    ("chrony-4.3", 0, 0, CHRONY_KE),
    ("chrony-4.3-byte-by-byte", 1, 0, CHRONY_KE),
    ("chrony-4.3-sha384", 0, 8, CHRONY_KE),
    # chrony 4.4 and ntpd-rs offer GCM-SIV first; a client that suggests a server and a port (§4.1.7, §4.1.8).
    ("gcm-siv-server-port", 5, 0, record(1, b"\0\0") + record(4, b"\0\x1e\0\x0f") + record(6, b"time.example.com")
     + record(7, b"\x04\x63") + EOM),
    ("no-common-aead", 0, 32, record(1, b"\0\0") + record(4, b"\0\x01") + EOM),
    ("no-common-protocol", 0, 0, record(1, b"\x80\x00") + record(4, b"\0\x0f") + EOM),
    ("unknown-critical", 0, 0, record(1, b"\0\0") + record(0x4242, b"x") + record(4, b"\0\x0f") + EOM),
    ("unknown-plain", 0, 0, record(1, b"\0\0") + record(0x4242, b"x", critical=False) + record(4, b"\0\x0f") + EOM),
    ("client-sends-error", 0, 0, record(1, b"\0\0") + record(2, b"\0\x01") + EOM),
    ("trailing-bytes", 0, 0, CHRONY_KE + CHRONY_KE),
    ("no-end-of-message", 0, 16, record(1, b"\0\0") + record(4, b"\0\x0f")),
    ("oversized", 200, 0, record(1, b"\0\0") + record(0x4242, bytes(1100), critical=False) + record(4, b"\0\x0f") + EOM),
    ("no-exporter-secret", 0, 4, CHRONY_KE),
    ("alpn-http", 0, 1, CHRONY_KE),
    ("no-handshake", 0, 3, CHRONY_KE),
]


def nts_ke() -> None:
    # [chunk size][flags] then the client's bytes after the handshake (Tests/Fuzz/nts-ke/main.swift).
    for name, chunk, flags, body in NTS_KE:
        write("nts-ke", name, bytes([chunk, flags]) + body)


# nts-ntp's seeds carry cookies and authenticators sealed under the target's own keyring by the
# server's code: the target writes them (Tests/Fuzz/nts-ntp/Seeds.swift), once built by make fuzz-build:
#   EPOCH_FUZZ_WRITE_SEEDS=Tests/Fuzz/corpus/nts-ntp .build/asan/release/fuzz-nts-ntp


CLIENT = [
    # 0: a 200 body; the /sync answer of README.md at rev bf06ec1, and go-microepoch's / answer.
    ("sync-answer", 0, b'{"type":"sync","t1":1795613500000000000,"t2":1796118369534840547,"t3":1796118369534852516,'
                       b'"unit":"ns","clock":{"synchronized":false,"max_error_ns":16000000000,'
                       b'"estimated_error_ns":16000000000,"state":"TIME_ERROR"},"rev":"bf06ec1"}'),
    ("epoch-answer", 0, b'{"host":"epoch-7d9","type":"epoch","data":1552299848,"unit":"sec","rev":"574cb4c"}'),
    ("epoch-answer-bare", 0, b'{"type":"epoch","data":1796118369}'),
    # 1: RFC 9110 §5.6.7's IMF-fixdate, and its two obsolete forms (refused).
    ("date-imf", 1, b"Sun, 06 Nov 1994 08:49:37 GMT"),
    ("date-rfc850", 1, b"Sunday, 06-Nov-94 08:49:37 GMT"),
    ("date-asctime", 1, b"Sun Nov  6 08:49:37 1994"),
    ("date-leap", 1, b"Sat, 31 Dec 2016 23:59:60 GMT"),
    # 2: durations as operators write them (--timeout, --clock-skew).
    ("duration-ms", 2, b"500ms"), ("duration-neg", 2, b"-1.5s"), ("duration-us", 2, "250µs".encode()),
    # 3: service URLs; 4: roughtime:// addresses; 5: a public key.
    ("url-v6", 3, b"http://[::1]:8080/base/"), ("url-https", 3, b"https://epoch.example.com"),
    ("roughtime-v4", 4, b"roughtime://127.0.0.1:2002"), ("roughtime-v6", 4, b"roughtime://[::1]:2002"),
    ("public-key", 5, b"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="),
]


def client() -> None:
    for name, selector, body in CLIENT:
        write("client", name, bytes([selector]) + body)


if __name__ == "__main__":
    for make in (ntp, roughtime_server, roughtime_client, http, client, nts_ke):
        make()
    total = sum(path.stat().st_size for path in ROOT.rglob("*") if path.is_file())
    print(f"seeds.py: {sum(1 for p in ROOT.rglob('*') if p.is_file())} seeds, {total} bytes in {ROOT}")
    sys.exit(0 if total < 1_000_000 else "the corpus is over 1 MB")
