"""HTTP-level behaviour of the endpoint outside the codecs: slow bodies, health, metrics."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx

from tocsin.testing import RunningServer


def test_slow_body_times_out(tmp_path: Path) -> None:
    with RunningServer(tmp_path, body_timeout_seconds=0.5) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
            connection.sendall(
                b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 100\r\nConnection: close\r\n\r\nAction=Get"
            )
            started = time.monotonic()
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
        waited = time.monotonic() - started
        assert received.startswith(b"HTTP/1.1 408 "), received[:200]
        assert b"<Code>RequestTimeout</Code>" in received
        assert b"TOCSIN_BODY_TIMEOUT_SECONDS" in received
        assert waited < 5


def test_healthz_and_metrics(tmp_path: Path) -> None:
    with RunningServer(tmp_path) as server:
        health = httpx.get(f"{server.url}/healthz")
        assert health.status_code == 200
        assert health.json() == {"status": "ok"}
        keys = server.create_account()
        server.client("sts", keys).get_caller_identity()
        metrics = httpx.get(f"{server.url}/metrics").text
        assert (
            'tocsin_requests_total{operation="GetCallerIdentity",service="sts",status="200"}'
            in metrics
        )
        assert "tocsin_request_duration_seconds_bucket" in metrics
        assert "tocsin_jobs_pending" in metrics
