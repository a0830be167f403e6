"""The hub probe: an unreachable hub is found at once, and the loaders then fall back or fail quickly."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from helpers import hub


def _closed_port() -> int:
    """A loopback port nothing listens on: bound, then closed."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        return closed.getsockname()[1]


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    hub._probe.cache_clear()
    yield monkeypatch
    hub._probe.cache_clear()


def test_a_refused_hub_is_reported_at_once(probe, capsys):
    port = _closed_port()
    probe.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.perf_counter()
    assert hub.hub_offline() is True and hub.hub_offline() is True
    assert time.perf_counter() - started < 2
    out = capsys.readouterr().out
    assert out.count("unreachable") == 1 and f"127.0.0.1:{port}" in out


def test_a_silent_hub_costs_one_short_timeout(probe):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        probe.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.perf_counter()
        assert hub.hub_offline(timeout_s=0.5) is True
        assert time.perf_counter() - started < 3


def test_a_hub_that_answers_is_reachable(probe):
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 (http.server's naming)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    try:
        probe.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        assert hub.hub_offline() is False
    finally:
        thread.join(5)
        server.server_close()


def test_news_data_falls_back_quickly_when_the_hub_is_unreachable(probe, capsys):
    from helpers.data import load_news_summaries

    port = _closed_port()
    probe.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.perf_counter()
    dataset, source = load_news_summaries("test", limit=2)
    assert source == "bundled-news_summaries" and len(dataset) == 2
    assert time.perf_counter() - started < 5
    assert "unreachable" in capsys.readouterr().out


def test_a_hub_model_that_is_not_cached_fails_at_once_offline(probe):
    from helpers.models import GPU_PRESET, HubUnreachableError, load_tokenizer

    port = _closed_port()
    probe.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    started = time.perf_counter()
    with pytest.raises(HubUnreachableError, match="offline preset"):
        load_tokenizer(GPU_PRESET)
    assert time.perf_counter() - started < 5
