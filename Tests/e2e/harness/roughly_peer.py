"""Drives roughly (the independent Roughtime implementation, PyPI) for test_roughtime.py.

Runs under .venv-roughtime's Python (roughly needs >= 3.12; the test suite's .venv is older):
    roughly_peer.py query|query-no-srv HOST PORT PUBLIC_KEY_B64 VERSION
prints {"version", "midpoint", "radius"} as JSON and exits 0 when roughly's own verification
passes; exits 1 naming roughly's reason when it rejects the reply, 3 when no reply comes.
`query` sends SRV (the key's hash, so a server holding another key drops the request);
`query-no-srv` leaves it out and verifies the reply under the key afterwards.
"""
from __future__ import annotations

import asyncio
import base64
import json
import sys

import roughly.client
import roughly.errors


async def query(host: str, port: int, public_key: bytes, version: int, *, srv: bool) -> int:
    try:
        async with asyncio.timeout(5):
            if srv:
                response = await roughly.client.send_request(host, port, public_key, versions=[version])
            else:
                response = await roughly.client.very_dangerously_send_request_and_do_not_verify(
                    host, port, None, versions=[version]
                )
                response.verify(public_key)
    except TimeoutError:
        print("no reply within 5 s", file=sys.stderr)
        return 3
    except roughly.errors.VerificationError as error:
        print(f"verification failed: {error.reason}: {error}", file=sys.stderr)
        return 1
    except roughly.errors.RoughtimeError as error:
        print(f"protocol error: {error}", file=sys.stderr)
        return 1
    signed = response.signed_response
    print(json.dumps({"version": response.version, "midpoint": signed.midpoint, "radius": signed.radius}))
    return 0


def main() -> int:
    if len(sys.argv) != 6 or sys.argv[1] not in ("query", "query-no-srv"):
        print(__doc__, file=sys.stderr)
        return 2
    _, mode, host, port, key, version = sys.argv
    return asyncio.run(query(host, int(port), base64.b64decode(key), int(version, 0), srv=mode == "query"))


if __name__ == "__main__":
    sys.exit(main())
