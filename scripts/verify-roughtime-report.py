#!/usr/bin/env python3
"""Re-verify a Roughtime malfeasance report (RFC 10049 §8.4) without trusting whoever made it.

Written from the RFC's text, independently of swift-microepoch's Swift code: Ed25519 comes from
Python's `cryptography`, SHA-512 from hashlib, and the message format is parsed here. For every
entry it checks the request's nonce chain (§8.2: NONC = H(previous response ‖ rand)), the
reply's signatures (delegation under the entry's publicKey, SREP under the delegated key), the
Merkle proof from the request to the signed ROOT, the echoed nonce and MINT ≤ MIDP ≤ MAXT; then
the causal order of every pair of signed times, and names the fewest servers (by public key)
whose replies explain every violation.

Usage: verify-roughtime-report.py REPORT.json [--json]
Exit 0: valid chain in causal order; 1: valid chain with a causal-order violation (the liar is
printed); 2: the report itself does not verify (tampered, malformed, or not a chain).
"""

import base64
import hashlib
import itertools
import json
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAGIC = b"ROUGHTIM"
VERSION_RFC = 0x00000001
VERSION_DRAFT = 0x8000000C


class Invalid(Exception):
    """The report does not verify; the message says which check failed."""


def tag(name):
    """A tag as its uint32: the ASCII name, zero-padded to four bytes, read little-endian."""
    return struct.unpack("<I", name.encode().ljust(4, b"\0"))[0]


def h(data):
    """H: SHA-512 cut to its first 32 bytes (RFC 10049 §5.3)."""
    return hashlib.sha512(data).digest()[:32]


def parse_message(data, what):
    """A Roughtime message: uint32 N, N-1 offsets, N tags (ascending), then the values."""
    if len(data) < 4:
        raise Invalid(f"{what}: message of {len(data)} bytes has no header")
    (count,) = struct.unpack_from("<I", data, 0)
    header = 4 + 8 * count - 4 if count else 4
    if count == 0 or header > len(data):
        raise Invalid(f"{what}: header of {count} tags does not fit")
    offsets = [0] + list(struct.unpack_from(f"<{count - 1}I", data, 4))
    tags = list(struct.unpack_from(f"<{count}I", data, 4 + 4 * (count - 1)))
    body = data[header:]
    if any(b <= a for a, b in zip(tags, tags[1:])):
        raise Invalid(f"{what}: tags are not strictly ascending")
    if any(o % 4 or o > len(body) for o in offsets) or any(b < a for a, b in zip(offsets, offsets[1:])):
        raise Invalid(f"{what}: offsets out of order or range")
    ends = offsets[1:] + [len(body)]
    return {t: body[o:e] for t, o, e in zip(tags, offsets, ends)}


def parse_packet(packet, what):
    if len(packet) < 12 or packet[:8] != MAGIC:
        raise Invalid(f"{what}: not a ROUGHTIM packet")
    (length,) = struct.unpack_from("<I", packet, 8)
    if length != len(packet) - 12:
        raise Invalid(f"{what}: packet length field {length} != {len(packet) - 12}")
    return parse_message(packet[12:], what)


def need(message, name, what, size=None):
    value = message.get(tag(name))
    if value is None:
        raise Invalid(f"{what}: no {name}")
    if size is not None and len(value) != size:
        raise Invalid(f"{what}: {name} has {len(value)} bytes, not {size}")
    return value


def u32(message, name, what):
    return struct.unpack("<I", need(message, name, what, 4))[0]


def u64(message, name, what):
    return struct.unpack("<Q", need(message, name, what, 8))[0]


def contexts(version):
    """The signature context strings, with their zero byte. RFC 10049 spells them "Roughtime"
    for version 1; drafts 12-19 (version 0x8000000c) spelled them "RoughTime"."""
    word = {VERSION_RFC: "Roughtime", VERSION_DRAFT: "RoughTime"}.get(version)
    if word is None:
        raise Invalid(f"unknown version 0x{version:x}")
    return (f"{word} v1 delegation signature\0".encode(), f"{word} v1 response signature\0".encode())


def merkle_root(request, index, path):
    """RFC 10049 §5.3: h = H(0x00 ‖ request), then up PATH; INDX bit 0 puts h on the left."""
    if len(path) % 32 or len(path) > 32 * 32:
        raise Invalid("PATH is not whole 32-byte hashes, or deeper than 32")
    node = h(b"\0" + request)
    for i in range(0, len(path), 32):
        sibling = path[i : i + 32]
        node = h(b"\1" + node + sibling) if index & 1 == 0 else h(b"\1" + sibling + node)
        index >>= 1
    if index:
        raise Invalid("INDX has bits beyond the PATH's depth")
    return node


def verify_signature(key_bytes, signature, message, what):
    try:
        Ed25519PublicKey.from_public_bytes(key_bytes).verify(signature, message)
    except (InvalidSignature, ValueError) as error:
        raise Invalid(f"{what} does not verify") from error


def verify_entry(number, entry, previous_response):
    what = f"entry {number}"
    try:
        request = base64.b64decode(entry["request"], validate=True)
        response = base64.b64decode(entry["response"], validate=True)
        public_key = base64.b64decode(entry["publicKey"], validate=True)
        rand = base64.b64decode(entry["rand"], validate=True) if "rand" in entry else None
    except (KeyError, ValueError, TypeError) as error:
        raise Invalid(f"{what}: missing or non-base64 field ({error})") from error
    sent = parse_packet(request, f"{what} request")
    nonce = need(sent, "NONC", f"{what} request", 32)
    if previous_response is not None:
        if rand is None or len(rand) != 32:
            raise Invalid(f"{what}: rand must be 32 bytes after the first entry")
        if nonce != h(previous_response + rand):
            raise Invalid(f"{what}: request nonce is not H(previous response ‖ rand): the chain is broken")
    reply = parse_packet(response, f"{what} response")
    if need(reply, "NONC", f"{what} response") != nonce:
        raise Invalid(f"{what}: response nonce is not the request's")
    if tag("TYPE") in reply and u32(reply, "TYPE", what) != 1:
        raise Invalid(f"{what}: response TYPE is not 1")
    srep_bytes = need(reply, "SREP", what)
    srep = parse_message(srep_bytes, f"{what} SREP")
    version = u32(srep, "VER", f"{what} SREP")
    offered = need(sent, "VER", f"{what} request")
    if version not in struct.unpack(f"<{len(offered) // 4}I", offered):
        raise Invalid(f"{what}: response version 0x{version:x} was not offered")
    delegation_context, response_context = contexts(version)
    cert = parse_message(need(reply, "CERT", what), f"{what} CERT")
    dele_bytes = need(cert, "DELE", f"{what} CERT")
    verify_signature(public_key, need(cert, "SIG", f"{what} CERT", 64), delegation_context + dele_bytes,
                     f"{what}: delegation signature under publicKey")
    dele = parse_message(dele_bytes, f"{what} DELE")
    verify_signature(need(dele, "PUBK", f"{what} DELE", 32), need(reply, "SIG", what, 64),
                     response_context + srep_bytes, f"{what}: response signature under the delegated key")
    if merkle_root(request, u32(reply, "INDX", what), need(reply, "PATH", what)) != need(srep, "ROOT", what, 32):
        raise Invalid(f"{what}: the Merkle path does not lead from the request to the signed ROOT")
    midpoint, radius = u64(srep, "MIDP", what), u32(srep, "RADI", what)
    if not u64(dele, "MINT", what) <= midpoint <= u64(dele, "MAXT", what):
        raise Invalid(f"{what}: MIDP outside the delegation's MINT..MAXT")
    if radius == 0:
        raise Invalid(f"{what}: RADI is zero")
    return {"server": base64.b64encode(public_key).decode(), "midpoint": midpoint, "radius": radius,
            "response": response}


def violations(times):
    """Pairs (i, j), i received before j, with MIDP_i - RADI_i > MIDP_j + RADI_j (§8.2)."""
    return [(i, j) for i, j in itertools.combinations(range(len(times)), 2)
            if times[i]["midpoint"] - times[i]["radius"] > times[j]["midpoint"] + times[j]["radius"]]


def liars(times):
    """The unique smallest set of servers whose removal restores causal order, if it is a
    minority; None when the violations cannot be pinned on such a set."""
    servers = list(dict.fromkeys(t["server"] for t in times))
    for size in range(1, len(servers)):
        found = [set(group) for group in itertools.combinations(servers, size)
                 if not violations([t for t in times if t["server"] not in group])]
        if found:
            return sorted(found[0]) if len(found) == 1 and size < len(servers) - size else None
    return None


def verify(report):
    entries = report.get("responses") if isinstance(report, dict) else None
    if not isinstance(entries, list) or not entries:
        raise Invalid('no "responses" list')
    times, previous = [], None
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise Invalid(f"entry {number} is not an object")
        times.append(verify_entry(number, entry, previous))
        previous = times[-1]["response"]
    found = violations(times)
    return {
        "entries": len(times),
        "servers": list(dict.fromkeys(t["server"] for t in times)),
        "violations": [[i + 1, j + 1] for i, j in found],
        "liars": liars(times) if found else [],
    }


def main(argv):
    if len(argv) not in (2, 3) or (len(argv) == 3 and argv[2] != "--json"):
        print(__doc__.strip().splitlines()[-4], file=sys.stderr)
        return 2
    try:
        with open(argv[1], "rb") as file:
            result = verify(json.loads(file.read()))
    except (OSError, ValueError, Invalid) as error:
        print(f"verify-roughtime-report: {argv[1]}: INVALID: {error}", file=sys.stderr)
        return 2
    if len(argv) == 3:
        print(json.dumps(result))
    elif not result["violations"]:
        print(f"{argv[1]}: {result['entries']} signed replies from {len(result['servers'])} servers, "
              "chained and in causal order")
    else:
        named = ", ".join(result["liars"]) if result["liars"] else "no single server can be blamed"
        print(f"{argv[1]}: {len(result['violations'])} causal-order violation(s); liar: {named}")
    return 1 if result["violations"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
