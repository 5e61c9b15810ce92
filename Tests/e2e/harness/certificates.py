"""Throwaway TLS certificates (trustme), written where openssl-using tools can read them."""
from __future__ import annotations

from pathlib import Path

import trustme


def make_tls_files(directory: Path, *names: str, common_name: str = "test CA") -> tuple[Path, Path, Path]:
    """A fresh CA and a server certificate for `names` (default 127.0.0.1) signed by it, as PEM
    files in `directory`: (ca.crt, server.crt, server.key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_unit_name=common_name)
    leaf = ca.issue_cert(*(names or ("127.0.0.1",)))
    ca_crt, crt, key = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    ca.cert_pem.write_to_path(str(ca_crt))
    leaf.cert_chain_pems[0].write_to_path(str(crt))
    leaf.private_key_pem.write_to_path(str(key))
    return ca_crt, crt, key


def make_ca_pem() -> bytes:
    """A real self-signed CA certificate in PEM (a kubeconfig's certificate-authority-data)."""
    return trustme.CA().cert_pem.bytes()
