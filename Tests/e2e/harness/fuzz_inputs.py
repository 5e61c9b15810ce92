"""Hostile HTTP/1.1 input, one hypothesis strategy per input class (test_fuzz.py plays them).

Every strategy draws a `Case` (harness/fuzz.py): the bytes and what a correct server does with them.
Big inputs (a 5,000-character method, 3,000 header fields, a 70 KiB target, 3,000 random bytes) are
drawn as a size and filled with a drawn pattern, so that an example (a batch of twenty cases,
test_fuzz.py) stays inside hypothesis's 8 KiB of choices and shrinks by its size; small ones are
drawn byte by byte. Where a class has a list of known-bad
values, the list is sampled first (hypothesis shrinks towards it) and generated variants follow.

The strategies the composites draw from are built once, here: building one inside a composite
makes hypothesis validate it anew on every draw, which cost a third of the corpus's run time.
"""
from __future__ import annotations

from hypothesis import strategies as st

from harness.fuzz import GOOD, PARSE_ERROR, TOO_BIG, Case

UNITS = ["sec", "ms", "us", "ns"]
KNOWN_PATHS = ["/", "/healthz", "/readyz", "/version", "/metrics", "/sync", "/?unit=ms", "/?unit=ns", "/sync?t1=1"]
TCHAR = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
# Bytes no header name may hold (RFC 9110 §5.6.2: a name is a token), without ':' (the separator),
# CR and LF (line ends), and control bytes no field value may hold (RFC 9110 §5.5), without HTAB.
NOT_TCHAR = ' ()<>@,;\\"/[]?={}\t\x00\x01\x1f\x7f'
NOT_FIELD_VCHAR = "".join(map(chr, [*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F]))


def request(method: str = "GET", target: str = "/", version: str = "HTTP/1.1",
            headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {target} {version}".encode("latin-1")]
    for name, value in [("Host", "127.0.0.1")] + (headers or []):
        lines.append(f"{name}: {value}".encode("latin-1"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def as_target(text: str) -> str:
    """A target as the bytes a client sends: UTF-8, written through latin-1."""
    return text.encode("utf-8").decode("latin-1")


def repeated(pattern, size: int):
    return (pattern * (size // len(pattern) + 1))[:size]


def filled(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    """A string of `low`..`high` characters: a drawn pattern of up to 8 repeated to a drawn size."""
    return st.builds(repeated, st.text(alphabet, min_size=1, max_size=8), st.integers(low, high))


def filled_bytes(low: int, high: int) -> st.SearchStrategy[bytes]:
    """`low`..`high` bytes: a drawn pattern of up to 16 bytes repeated to a drawn size."""
    return st.builds(repeated, st.binary(min_size=1, max_size=16), st.integers(low, high))


booleans = st.booleans()
# Valid header fields a request may carry besides the one under test: they make the same flaw
# appear at other offsets of the head. Three draws, not three per field: hypothesis's cost is per
# draw, and the corpus is 12,000 examples.
noise_headers = st.builds(lambda count, name, value: [(f"X-{name}-{i}", value) for i in range(count)],
                          st.integers(0, 20), st.text("abcdefgh", min_size=1, max_size=8),
                          st.text("abc xyz-=;", max_size=40).map(str.strip))
no_noise = st.just([])

# --------------------------------------------------------------------------------------------------
# valid, truncated, random bytes

valid_methods, known_paths, valid_versions = (st.sampled_from(["GET", "HEAD"]), st.sampled_from(KNOWN_PATHS),
                                              st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))


@st.composite
def valid_requests(draw, noise: st.SearchStrategy = noise_headers) -> tuple[bytes, bool]:
    """A request the server must answer 200, and whether it is a HEAD."""
    method = draw(valid_methods)
    return request(method, draw(known_paths), draw(valid_versions), draw(noise)), method == "HEAD"


@st.composite
def valid(draw) -> Case:
    data, head = draw(valid_requests())
    return Case("valid", data, True, frozenset({200}), head=head, all_ok=True)


head_ends = st.sampled_from([b"", b"\r\n\r\n"])


@st.composite
def random_bytes(draw, data: st.SearchStrategy[bytes] = st.one_of(st.binary(min_size=1, max_size=64),
                                                                  filled_bytes(65, 3000))) -> Case:
    # Random bytes may stop anywhere (no complete request); whatever answers must be a 4xx.
    return Case("random-bytes", draw(data) + draw(head_ends), False, PARSE_ERROR | TOO_BIG)


@st.composite
def truncated(draw, noise: st.SearchStrategy = noise_headers) -> Case:
    data, _ = draw(valid_requests(noise))
    cut = draw(st.integers(1, len(data) - 1))  # never after the head's final CRLF CRLF: incomplete
    return Case("truncated", data[:cut], False, PARSE_ERROR)


# --------------------------------------------------------------------------------------------------
# the request line: method, version

bad_method_kinds = st.sampled_from(["refused", "malformed", "unknown", "long"])
refused_methods = st.sampled_from(["PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE"])
malformed_methods = st.sampled_from(["get", "Get", "G ET", "GET\x00", "\x7fGET", "GE\tT", "", " GET", "GET\x85"])
unknown_methods = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_-", min_size=1, max_size=20).filter(
    lambda m: m not in ("GET", "HEAD", "CONNECT"))  # CONNECT opens a tunnel: tested on its own in test_fuzz.py
long_methods = filled("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 200, 5000)
small_bodies = st.binary(max_size=200)


@st.composite
def bad_method(draw) -> Case:
    kind = draw(bad_method_kinds)
    if kind == "refused":
        method, allowed = draw(refused_methods), {405}
    elif kind == "malformed":
        method, allowed = draw(malformed_methods), PARSE_ERROR
    elif kind == "unknown":
        method, allowed = draw(unknown_methods), {400, 405, 501}
    else:
        method, allowed = draw(long_methods), {400, 405, 414, 431, 501}
    headers, body = [], b""
    if method in ("PUT", "POST", "PATCH") or draw(booleans):
        body = draw(small_bodies)
        headers = [("Content-Length", str(len(body)))]
    return Case("bad-method", request(method, "/", "HTTP/1.1", headers, body), True, frozenset(allowed))


BAD_VERSIONS = ["HTTP/0.9", "HTTP/2.0", "HTTP/2", "HTTP/3.0", "HTTP/9.9", "HTTP/1", "HTTP/1.", "HTTP/1.10", "HTTP/11",
                "HTTPS/1.1", "http/1.1", "HTTP/1.1x", "HTTP /1.1", "HTTP/-1.1", "HTTP/1.1\x00", "FTP/1.0"]
bad_versions = st.one_of(
    st.sampled_from(BAD_VERSIONS),
    st.integers(3, 40).map(lambda n: "HTTP/" + "9" * n),
    st.tuples(st.integers(0, 9), st.integers(0, 9)).filter(lambda v: v not in ((1, 0), (1, 1)))
    .map(lambda v: f"HTTP/{v[0]}.{v[1]}"),
    st.just(""),  # "GET /" alone: an HTTP/0.9 simple request
)


@st.composite
def bad_version(draw) -> Case:
    version = draw(bad_versions)
    # RFC 9112 §2.3: a server may answer a higher 1.x minor version as HTTP/1.1.
    higher_minor = len(version) == 8 and version.startswith("HTTP/1.") and version[7].isdigit()
    allowed = frozenset({200, 400, 505} if higher_minor else {400, 505})
    if version == "":
        return Case("bad-version", b"GET /\r\n\r\n", True, allowed)
    return Case("bad-version", request("GET", "/", version, draw(noise_headers)), True, allowed)


# --------------------------------------------------------------------------------------------------
# header fields

flood_kinds = st.sampled_from(["many fields", "one big field", "big head", "same field", "big cookie"])
many_fields, short_values = st.integers(101, 3000), st.integers(0, 20)
big_fields = filled("abcdefghij", 16 * 1024 + 1, 60 * 1024)
big_heads = st.integers(66, 200)
same_field_values = st.lists(st.text("abc", min_size=1, max_size=30), min_size=2, max_size=90)
big_cookies = filled("xyz0123456789", 100, 12_000)


@st.composite
def header_flood(draw) -> Case:
    kind = draw(flood_kinds)
    if kind == "many fields":  # more header fields than the server accepts (100)
        value = "y" * draw(short_values)
        headers = [(f"X-{i}", value) for i in range(draw(many_fields))]
    elif kind == "one big field":  # one field over the 16 KiB header limit
        headers = [("X-Big", draw(big_fields))]
    elif kind == "big head":  # a head over 64 KiB
        headers = [(f"X-{i}", "b" * 1000) for i in range(draw(big_heads))]
    elif kind == "same field":  # the same field repeated within the limits: a valid request
        headers = [("X-Same", value) for value in draw(same_field_values)]
        return Case("header-flood", request(headers=headers), True, frozenset({200}), all_ok=True)
    else:  # big but within the limits: a valid request
        headers = [("Cookie", "c=" + draw(big_cookies))]
        return Case("header-flood", request(headers=headers), True, frozenset({200}), all_ok=True)
    return Case("header-flood", request(headers=headers), True, TOO_BIG)


# Two are merely unusual (EITHER): RFC 9112 leaves a server free to accept or reject them.
BAD_HEADER_LINES = [b"NoColon", b"Bad Name: x", b"Name : x", b": no-name", b"X-Nul: a\x00b", b"X-Ctl: a\x01b",
                    b"X-Bare-CR: a\rb", b"X-Fold: a\r\n folded", b"\x00: x", b"X(y): z", b"X-Del: a\x7fb",
                    b"Content-Length: 1\r\nContent-Length: 2", b"Host: a\r\nHost: b", b"X-Header-Only-LF: a\nX-B: b"]
EITHER_HEADER_LINES = (b"Host: a\r\nHost: b", b"X-Header-Only-LF: a\nX-B: b")
bad_header_lines = st.one_of(
    st.sampled_from(BAD_HEADER_LINES),
    st.builds(lambda bad, tail: f"X-{bad}{tail}: v".encode("latin-1"),  # a name that is no token
              st.text(NOT_TCHAR, min_size=1, max_size=3), st.text(TCHAR, max_size=4)),
    st.builds(lambda bad, tail: f"X-Value: a{bad}{tail}".encode("latin-1"),  # a control byte in a value
              st.text(NOT_FIELD_VCHAR, min_size=1, max_size=3), st.text("bcd", max_size=4)),
)


@st.composite
def bad_header_syntax(draw) -> Case:
    line = draw(bad_header_lines)
    allowed = {200, 400} if line in EITHER_HEADER_LINES else set(PARSE_ERROR)
    before = b"".join(f"{n}: {v}\r\n".encode() for n, v in draw(noise_headers))
    data = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + before + line + b"\r\n\r\n"
    if draw(booleans):  # the whole head with bare LF line endings
        data = data.replace(b"\r\n", b"\n")
        allowed |= {400}
    return Case("bad-header-syntax", data, True, frozenset(allowed))


# --------------------------------------------------------------------------------------------------
# bodies: chunked, Content-Length

CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
BAD_CHUNKS = [b"zz\r\nabc\r\n0\r\n\r\n", b"-1\r\nabc\r\n0\r\n\r\n", b"3\r\nabcdef\r\n0\r\n\r\n",
              b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", b"3;\x00ext\r\nabc\r\n0\r\n\r\n", b"3\rabc\r\n0\r\n\r\n",
              b"3\r\nabc0\r\n\r\n", b" 3\r\nabc\r\n0\r\n\r\n", b"0x3\r\nabc\r\n0\r\n\r\n"]
chunked_kinds, bad_chunks = st.sampled_from(["bad", "valid", "incomplete"]), st.sampled_from(BAD_CHUNKS)
valid_chunks = st.lists(st.binary(min_size=1, max_size=50), min_size=1, max_size=3)
huge_chunk_sizes = st.integers(0x100000, 0xFFFFFFF)


@st.composite
def chunk_larger_than_what_follows(draw) -> Case:
    return Case("bad-chunked", CHUNKED_HEAD + b"%x\r\nabc" % draw(huge_chunk_sizes), False, PARSE_ERROR | TOO_BIG)


@st.composite
def bad_chunked(draw) -> Case:
    kind = draw(chunked_kinds)
    if kind == "valid":  # a valid chunked body: POST is not allowed
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in draw(valid_chunks))
        return Case("bad-chunked", CHUNKED_HEAD + body + b"0\r\n\r\n", True, frozenset({405}))
    if kind == "incomplete":
        return draw(chunk_larger_than_what_follows())
    bad = draw(bad_chunks)
    data = CHUNKED_HEAD + bad
    if draw(booleans):  # Transfer-Encoding and Content-Length together: a smuggling attempt
        data = data.replace(b"Transfer-Encoding: chunked\r\n", b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n")
    return Case("bad-chunked", data, True, PARSE_ERROR | {405} if b"0x3" in bad else PARSE_ERROR)


BAD_LENGTHS = ["-1", "abc", "1e3", "99999999999999999999999999", "1, 2", "+5", "0x10", " ", "5 5", "\x00"]
bad_lengths = st.one_of(st.sampled_from(BAD_LENGTHS), st.integers(min_value=2**64).map(str))
body_methods, short_bodies = st.sampled_from(["POST", "GET", "PUT"]), st.binary(max_size=64)


@st.composite
def bad_content_length(draw) -> Case:
    value, method, headers = draw(bad_lengths), draw(body_methods), draw(noise_headers)
    headers.insert(draw(st.integers(0, len(headers))), ("Content-Length", value))
    return Case("bad-content-length", request(method, headers=headers, body=draw(short_bodies)), True, PARSE_ERROR)


# --------------------------------------------------------------------------------------------------
# the target: query, path

query_kinds = st.sampled_from(["absurd unit", "many parameters", "repeated units", "absurd t1", "too long", "odd"])
ABSURD_UNITS = ["", "SEC", "seconds", "s", "%73ec", "sec%00", "sec\x01", "ms;ns", "-1", "sec sec", "\u00e9"]
UNIT_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789%+-._~"
absurd_units = st.one_of(st.sampled_from(ABSURD_UNITS),
                         st.text(UNIT_CHARACTERS, min_size=1, max_size=40).filter(lambda u: u not in UNITS),
                         filled(UNIT_CHARACTERS, 41, 4000))
parameters = st.lists(st.tuples(st.text("abcxyz", min_size=1, max_size=6), st.text("abc123=%", max_size=12)),
                      min_size=1, max_size=20)
parameter_counts, units = st.integers(1, 400), st.sampled_from(UNITS)
repeated_units = st.lists(st.sampled_from(UNITS + ["bogus"]), min_size=2, max_size=6)
ABSURD_T1 = ["", "abc", "1.5", "99999999999999999999999", "-99999999999999999999999", "0x10", "%31", "1e9"]
absurd_t1 = st.one_of(st.sampled_from(ABSURD_T1), st.integers(min_value=2**63).map(str),
                      st.integers(max_value=-(2**63) - 1).map(str))  # none an Int64
long_queries = filled("abcdef", 17 * 1024, 70 * 1024)
odd_queries = st.sampled_from(["&&&", "=", "==", "&=&", "unit", "unit=sec&", "?", "#frag", "unit=sec#x"])


@st.composite
def query(draw) -> Case:
    kind = draw(query_kinds)
    if kind == "absurd unit":
        unit = draw(absurd_units)
        # Not a valid request target at all: a parse error; else the server's own 400.
        allowed = PARSE_ERROR if " " in unit or any(ord(c) < 0x20 or ord(c) > 0x7E for c in unit) else {400}
        return Case("query", request(target=as_target("/?unit=" + unit)), True, frozenset(allowed))
    if kind == "many parameters":  # a valid unit last
        pairs, count = draw(parameters), draw(parameter_counts)
        params = "&".join(f"{k}={v}" for k, v in (pairs * (count // len(pairs) + 1))[:count])
        target = f"/?{params}&unit={draw(units)}"
        return Case("query", request(target=target), True, frozenset({200} if len(target) < 8000 else {200} | TOO_BIG))
    if kind == "repeated units":
        chosen = draw(repeated_units)
        allowed = {400} if "bogus" in chosen else {200}
        return Case("query", request(target="/?" + "&".join(f"unit={u}" for u in chosen)), True, frozenset(allowed))
    if kind == "absurd t1":
        return Case("query", request(target="/sync?t1=" + draw(absurd_t1)), True, frozenset({400}))
    if kind == "too long":  # a request target over the limits
        return Case("query", request(target="/?x=" + draw(long_queries)), True, TOO_BIG)
    # Odd but harmless: either answer, never a 5xx.
    return Case("query", request(target="/?" + draw(odd_queries)), True, frozenset({200, 400}))


ODD_PATHS = ["//", "/..", "/../../etc/passwd", "/%00", "/%2e%2e/", "*", "http://example.com/", "/\u00e9", "/healthz/",
             "/HEALTHZ", "/metrics?x=1"]
odd_paths = st.one_of(st.sampled_from(ODD_PATHS),
                      st.text("abcdefghijklmnopqrstuvwxyz0123456789/._-~%", min_size=1, max_size=300).map("/".__add__))


@st.composite
def path(draw) -> Case:
    target = as_target(draw(odd_paths))
    return Case("path", request(target=target, headers=draw(noise_headers)), True, frozenset({200, 400, 404}))


# --------------------------------------------------------------------------------------------------
# pipelines

# Garbage the server rejects as soon as it has it (a complete head or an invalid first byte).
COMPLETE_GARBAGE = [b"\x00\x01\x02", b"GET / HTTP/9.9\r\n\r\n", b"FOO BAR BAZ\r\n\r\n",
                    b"GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"]
known_garbage = st.sampled_from(COMPLETE_GARBAGE + [b"\r\n\r\n\r\n"])


@st.composite
def pipelined_garbage(draw, garbages: st.SearchStrategy[bytes] = st.one_of(known_garbage,
                                                                         st.binary(min_size=1, max_size=500))) -> Case:
    garbage = draw(garbages)
    return Case("pipelined-garbage", GOOD + garbage, True, frozenset({200}), max_responses=2, valid_prefix=1,
                settles=garbage in COMPLETE_GARBAGE)


pipeline_lengths = st.integers(2, 30)


@st.composite
def pipelined_valid(draw) -> Case:
    count = draw(pipeline_lengths)
    return Case("pipelined-valid", GOOD * count, True, frozenset({200}), max_responses=count, all_ok=True)


# --------------------------------------------------------------------------------------------------
# the classes


def kept_open_or_not(cases: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
    """Half the cases whose bytes the server can finish on (`settles`) keep their connection open
    instead of half-closing it: the server must then answer and close, or keep it alive, on its
    own. Those it cannot finish would wait for its request timeout: `held_open` draws them."""
    @st.composite
    def draw_case(draw) -> Case:
        case = draw(cases)
        case.half_close = not (case.settles and draw(booleans))
        return case
    return draw_case()


# The input classes and their share of the corpus (the weights of the generator hypothesis replaced).
INPUT_CLASSES: dict[str, tuple[st.SearchStrategy[Case], int]] = {
    name: (kept_open_or_not(strategy), weight) for name, strategy, weight in [
        ("random-bytes", random_bytes(), 12), ("truncated", truncated(), 10), ("bad-method", bad_method(), 10),
        ("bad-version", bad_version(), 8), ("header-flood", header_flood(), 8),
        ("bad-header-syntax", bad_header_syntax(), 10), ("bad-chunked", bad_chunked(), 8),
        ("bad-content-length", bad_content_length(), 6), ("query", query(), 12), ("path", path(), 5),
        ("pipelined-garbage", pipelined_garbage(), 5), ("pipelined-valid", pipelined_valid(), 3), ("valid", valid(), 3),
    ]
}

small_garbage = st.binary(min_size=1, max_size=64)
unfinished = st.one_of(truncated(no_noise), random_bytes(small_garbage), chunk_larger_than_what_follows(),
                       pipelined_garbage(st.one_of(known_garbage, small_garbage)))


@st.composite
def held_open(draw) -> Case:
    """Bytes that leave a request unfinished on a connection the client keeps open: the server
    must close it by its request or idle timeout (a 4xx first is fine, a 2xx never). Small inputs:
    two hundred of them make one example (test_fuzz.py), within hypothesis's 8 KiB of choices."""
    case = draw(unfinished)
    case.category, case.half_close = "held-open", False
    return case
