"""Tiny HTTP probe for readiness checks (stdlib only, so probing adds no dependency)."""

import urllib.error
import urllib.request


def http_status(url: str, timeout: float = 2.0) -> int:
    """HTTP status code of a GET, or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback URLs we build
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return 0
