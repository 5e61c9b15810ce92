"""A small NTS client (RFC 8915) of the tests' own, independent of the server's code: NTS-KE over
pyOpenSSL (whose export_keying_material is OpenSSL's RFC 8446 §7.5 exporter) and NTS-protected NTP
with the `cryptography` package's AES-SIV (RFC 5297). The hostile-input and in-process checks drive
the server with it; chrony is the real client of the acceptance tests."""
from __future__ import annotations

import os
import select
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV, AESSIV
from OpenSSL import SSL

# chrony 4.3's request: Next Protocol NTPv4, AEAD 15, End of Message (all critical).
CHRONY_KE_REQUEST = bytes.fromhex("800100020000 80040002000f 80000000".replace(" ", ""))
EXPORTER_LABEL = b"EXPORTER-network-time-security"
KEY_BYTES = {15: 32, 30: 16}
UID, COOKIE, PLACEHOLDER, AUTHENTICATOR = 0x0104, 0x0204, 0x0304, 0x0404


def records(data: bytes) -> list[tuple[bool, int, bytes]]:
    """(critical, type, body) of each record, up to the end of `data`."""
    out, index = [], 0
    while index + 4 <= len(data):
        word, length = struct.unpack_from("!HH", data, index)
        out.append((bool(word & 0x8000), word & 0x7FFF, data[index + 4:index + 4 + length]))
        index += 4 + length
    return out


@dataclass
class Session:
    aead: int
    c2s: bytes
    s2c: bytes
    cookies: list[bytes] = field(default_factory=list)
    port: int | None = None
    records: list = field(default_factory=list)


def tls_context(ca: Path | None, alpn: list[bytes]) -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    if ca is not None:
        context.load_verify_locations(str(ca))
        context.set_verify(SSL.VERIFY_PEER, lambda *args: args[-1] == 1)
    if alpn:
        context.set_alpn_protos(alpn)
    return context


def blocking(call, sock: socket.socket, timeout: float):
    """Runs a pyOpenSSL call on a socket with a timeout (a non-blocking one underneath): waits for
    the socket whenever OpenSSL wants to read or write, up to `timeout` each time."""
    while True:
        try:
            return call()
        except (SSL.WantReadError, SSL.WantWriteError) as want:
            reading = isinstance(want, SSL.WantReadError)
            ready = select.select([sock] if reading else [], [] if reading else [sock], [], timeout)
            if not ready[0] and not ready[1]:
                raise socket.timeout("NTS-KE: no progress within the timeout")


def key_exchange(port: int, ca: Path | None, request: bytes = CHRONY_KE_REQUEST, alpn: list[bytes] | None = None,
                 timeout: float = 10.0, close_after_sending: bool = False) -> tuple[bytes, Session | None]:
    """One NTS-KE exchange with 127.0.0.1:port: (the raw response, the session when it gave keys).
    `close_after_sending` sends TLS close_notify after the request, so that a server waiting for
    the rest of an incomplete message learns at once that none will come."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    connection = SSL.Connection(tls_context(ca, [b"ntske/1"] if alpn is None else alpn), sock)
    connection.set_tlsext_host_name(b"localhost")
    connection.set_connect_state()
    try:
        blocking(connection.do_handshake, sock, timeout)
        if request:
            blocking(lambda: connection.sendall(request), sock, timeout)
        if close_after_sending:
            try:
                connection.shutdown()
            except SSL.Error:
                pass
        response = b""
        while True:
            try:
                chunk = blocking(lambda: connection.recv(65536), sock, timeout)
            except (SSL.ZeroReturnError, SSL.SysCallError):
                break
            if not chunk:
                break
            response += chunk
        parsed = records(response)
        aead = next((int.from_bytes(b, "big") for c, t, b in parsed if t == 4 and len(b) == 2), None)
        if aead is None:
            return response, None
        keys = [connection.export_keying_material(EXPORTER_LABEL, KEY_BYTES[aead], bytes([0, 0, 0, aead, d]))
                for d in (0, 1)]
        port_record = next((int.from_bytes(b, "big") for c, t, b in parsed if t == 7), None)
        return response, Session(aead, keys[0], keys[1], [b for c, t, b in parsed if t == 5], port_record, parsed)
    finally:
        connection.close()
        sock.close()


def field_bytes(kind: int, body: bytes) -> bytes:
    padded = body + bytes(-len(body) % 4)
    return struct.pack("!HH", kind, 4 + len(padded)) + padded


def seal(aead: int, key: bytes, nonce: bytes, ad: bytes, plaintext: bytes) -> bytes:
    if aead == 15:
        return AESSIV(key).encrypt(plaintext, [ad, nonce])
    sealed = AESGCMSIV(key).encrypt(nonce, plaintext, ad)
    return sealed


def open_sealed(aead: int, key: bytes, nonce: bytes, ad: bytes, ciphertext: bytes) -> bytes:
    if aead == 15:
        return AESSIV(key).decrypt(ciphertext, [ad, nonce])
    return AESGCMSIV(key).decrypt(nonce, ciphertext, ad)


def ntp_request(session: Session, cookie: bytes, placeholders: int = 0, uid: bytes | None = None,
                nonce_bytes: int = 16) -> tuple[bytes, bytes]:
    """An NTS-protected NTPv4 client request: (the packet, its Unique Identifier)."""
    uid = uid or os.urandom(32)
    header = bytes([0x23, 0, 6, 0x20]) + bytes(36) + os.urandom(8)
    packet = header + field_bytes(UID, uid) + field_bytes(COOKIE, cookie)
    packet += b"".join(field_bytes(PLACEHOLDER, bytes(len(cookie))) for _ in range(placeholders))
    nonce = os.urandom(nonce_bytes if session.aead == 15 else 12)
    sealed = seal(session.aead, session.c2s, nonce, packet, b"")
    body = struct.pack("!HH", len(nonce), len(sealed)) + nonce + bytes(-len(nonce) % 4) + sealed
    return packet + field_bytes(AUTHENTICATOR, body), uid


def ntp_fields(packet: bytes) -> list[tuple[int, int, bytes]]:
    """(type, offset, body) of the extension fields after the 48-byte header."""
    out, index = [], 48
    while index + 4 <= len(packet):
        kind, length = struct.unpack_from("!HH", packet, index)
        if length < 4:
            break
        out.append((kind, index, packet[index + 4:index + length]))
        index += length
    return out


def verify_reply(session: Session, reply: bytes, uid: bytes) -> list[bytes]:
    """The new cookies of an authentic reply; raises ValueError for anything else."""
    fields = ntp_fields(reply)
    if [kind for kind, _, _ in fields] != [UID, AUTHENTICATOR] or fields[0][2] != uid:
        raise ValueError(f"fields {[hex(k) for k, _, _ in fields]}")
    _, offset, body = fields[1]
    nonce_length, ciphertext_length = struct.unpack_from("!HH", body)
    nonce = body[4:4 + nonce_length]
    start = 4 + nonce_length + (-nonce_length % 4)
    plaintext = open_sealed(session.aead, session.s2c, nonce, reply[:offset], body[start:start + ciphertext_length])
    return [b for kind, _, b in ntp_fields(bytes(48) + plaintext) if kind == COOKIE]
