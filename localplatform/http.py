"""Tiny HTTP probe for readiness checks (stdlib only, so probing adds no dependency)."""

import ssl
import urllib.error
import urllib.request
from pathlib import Path


def http_status(url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> int:
    """HTTP status code of a GET, or 0 when nothing answers."""
    try:
        # S310: only loopback URLs we build
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return 0


def https_status(
    url: str, ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None, timeout: float = 2.0
) -> int:
    """Like `http_status`, for a TLS server of our own CA, optionally presenting a client certificate."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return http_status(url, timeout, context)
