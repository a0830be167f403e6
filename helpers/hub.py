"""Is the Hugging Face hub usable here? One short probe per process, so an offline machine is told at once."""

from __future__ import annotations

import functools
import os
import time
import urllib.error
import urllib.request

PROBE_TIMEOUT_S = 3.0


def hub_endpoint() -> str:
    """The hub address the Hugging Face libraries use ($HF_ENDPOINT, else huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


@functools.cache
def _probe(endpoint: str, timeout_s: float) -> str | None:
    """None when the endpoint answers at all (any HTTP status), else why not."""
    started = time.perf_counter()
    try:
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/api/models?limit=1", method="HEAD"),
                               timeout=timeout_s).close()
    except urllib.error.HTTPError:
        return None  # an HTTP error is an answer: the hub is there
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return f"{endpoint} did not answer within {time.perf_counter() - started:.1f} s ({reason})"
    return None


def hub_offline(timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when the hub must not be used (HF_HUB_OFFLINE) or cannot be reached; says the latter once, in one line."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return True
    first = _probe.cache_info().currsize == 0
    reason = _probe(hub_endpoint(), timeout_s)
    if reason and first:
        print(f"The Hugging Face hub is unreachable: {reason}. Offline data and models are used instead.")
    return reason is not None
