"""Closed-loop load driver: N keep-alive clients replay one SigV4-signed request.

The request is signed once with botocore's SigV4Auth and its bytes are sent
again and again. AWS and Tocsin accept a signed request for 15 minutes after
its X-Amz-Date, which is far longer than one run. Each client is one
keep-alive TCP connection that sends a request, reads the whole response and
sends the next. Clients are spread over a few generator processes, each
running asyncio, so that the generator is not the bottleneck on a small
machine that it shares with the server.

Every run is bounded twice: by its duration and by a request count.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# A replayed signature stays valid for 15 minutes, so every run stops well before that.
MAX_DURATION_SECONDS = 600.0
MAX_ERROR_BODIES = 3
ERROR_BODY_CHARACTERS = 500
# Extra seconds the parent waits for generator processes before it kills them.
JOIN_GRACE_SECONDS = 30.0
# Maximum wait for every generator process to start and import this module.
STARTUP_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class LoadSpec:
    """Settings of one run: the request bytes, the server, the clients and the limits.

    ``max_requests`` caps the requests sent in the measured window, and
    separately those sent during the warm-up.
    """

    host: str
    port: int
    request: bytes
    clients: int
    duration_seconds: float
    warmup_seconds: float
    max_requests: int
    processes: int


@dataclass
class ProcessResult:
    """Measurements of one generator process, with latencies in seconds."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_bodies: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0


@dataclass(frozen=True)
class LoadResult:
    """Combined measurement of one run, with latencies in milliseconds."""

    clients: int
    processes: int
    requests: int
    errors: int
    elapsed_seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    error_bodies: list[str]
    # Server CPU time during the measured window as a percentage of one core.
    server_cpu_percent: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def sign_request(
    *,
    host: str,
    port: int,
    service: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
) -> bytes:
    """Sign a request with SigV4 and return it as raw HTTP/1.1 bytes, ready to replay."""
    host_header = f"{host}:{port}"
    all_headers = {"Host": host_header, "Content-Length": str(len(body)), **headers}
    request = AWSRequest(
        method=method, url=f"http://{host_header}{path}", data=body, headers=all_headers
    )
    SigV4Auth(Credentials(access_key_id, secret_access_key), service, region).add_auth(request)
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("latin-1") + body


def query_request(
    *,
    host: str,
    port: int,
    service: str,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    action: str,
    version: str,
) -> bytes:
    """Sign an AWS query-protocol call without parameters (for example STS GetCallerIdentity)."""
    return sign_request(
        host=host,
        port=port,
        service=service,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        method="POST",
        path="/",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        body=f"Action={action}&Version={version}".encode(),
    )


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response and return its status, its body and whether the connection stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length: int | None = None
    keep_alive = True
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"connection" and value.strip().lower() == b"close":
            keep_alive = False
        elif lowered == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by the load driver")
    if length is None:
        raise ValueError(f"response with status {status} has no Content-Length")
    body = await reader.readexactly(length)
    return status, body, keep_alive


@dataclass
class _Window:
    measure_start: float
    measure_end: float
    max_requests: int
    warmup_sent: int = 0
    sent: int = 0


async def _client(spec: LoadSpec, window: _Window, result: ProcessResult) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while window.sent < window.max_requests:
            started = time.monotonic()
            if started >= window.measure_end:
                break
            if started < window.measure_start:
                if window.warmup_sent >= window.max_requests:
                    await asyncio.sleep(window.measure_start - started)
                    continue
                window.warmup_sent += 1
            else:
                window.sent += 1
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(spec.host, spec.port)
                writer.write(spec.request)
                status, body, keep_alive = await _read_response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                # Status 0 marks a request that got no complete response.
                status, body, keep_alive = 0, f"{type(exc).__name__}: {exc}".encode(), False
            finished = time.monotonic()
            if not keep_alive:
                if writer is not None:
                    writer.close()
                reader = writer = None
            if not window.measure_start <= finished < window.measure_end:
                continue
            result.latencies.append(finished - started)
            if not 200 <= status < 300:
                result.errors += 1
                if len(result.error_bodies) < MAX_ERROR_BODIES:
                    text = body.decode(errors="replace")[:ERROR_BODY_CHARACTERS]
                    label = f"HTTP {status}" if status else "no response"
                    result.error_bodies.append(f"{label}: {text}")
    finally:
        if writer is not None:
            writer.close()


async def _run_clients(spec: LoadSpec, clients: int, max_requests: int) -> ProcessResult:
    now = time.monotonic()
    window = _Window(
        measure_start=now + spec.warmup_seconds,
        measure_end=now + spec.warmup_seconds + spec.duration_seconds,
        max_requests=max_requests,
    )
    result = ProcessResult()
    await asyncio.gather(*(_client(spec, window, result) for _ in range(clients)))
    stopped = min(time.monotonic(), window.measure_end)
    result.elapsed_seconds = max(0.0, stopped - window.measure_start)
    return result


def _generator_process(
    spec: LoadSpec,
    clients: int,
    max_requests: int,
    start_barrier: Any,
    results: Any,
) -> None:
    start_barrier.wait(timeout=STARTUP_TIMEOUT_SECONDS)
    result = asyncio.run(_run_clients(spec, clients, max_requests))
    results.put(result)


def _percentile(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))
    return ordered[index]


def combine(spec: LoadSpec, parts: list[ProcessResult], server_cpu_seconds: float) -> LoadResult:
    """Merge the measurements of every generator process into one result."""
    latencies = sorted(latency for part in parts for latency in part.latencies)
    elapsed = max((part.elapsed_seconds for part in parts), default=0.0)
    bodies = [body for part in parts for body in part.error_bodies][:MAX_ERROR_BODIES]
    return LoadResult(
        clients=spec.clients,
        processes=len(parts),
        requests=len(latencies),
        errors=sum(part.errors for part in parts),
        elapsed_seconds=elapsed,
        requests_per_second=len(latencies) / elapsed if elapsed > 0 else 0.0,
        p50_ms=statistics.median(latencies) * 1000 if latencies else 0.0,
        p90_ms=_percentile(latencies, 0.90) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        max_ms=latencies[-1] * 1000 if latencies else 0.0,
        error_bodies=bodies,
        server_cpu_percent=100 * server_cpu_seconds / elapsed if elapsed > 0 else 0.0,
    )


def run_load(spec: LoadSpec, server_cpu: Callable[[], float]) -> LoadResult:
    """Drive ``spec.clients`` concurrent clients and return the combined measurement.

    ``server_cpu`` returns the server's CPU seconds so far. It is sampled at
    the start and the end of the measured window.

    The clients are split as evenly as possible over ``spec.processes``
    processes (never more processes than clients). The request cap is split
    the same way, so a process that reaches its share stops early.
    """
    if spec.duration_seconds + spec.warmup_seconds > MAX_DURATION_SECONDS:
        raise ValueError(
            f"warm-up plus duration is {spec.duration_seconds + spec.warmup_seconds} s; "
            f"the maximum is {MAX_DURATION_SECONDS:.0f} s because the signature expires"
        )
    processes = max(1, min(spec.processes, spec.clients))
    context = multiprocessing.get_context("spawn")
    # Every process and the parent meet at the barrier, so that all clients
    # start together and no warm-up is spent on interpreter start-up.
    start_barrier = context.Barrier(processes + 1)
    results = context.Queue()
    workers = []
    try:
        for index in range(processes):
            clients = spec.clients // processes + int(index < spec.clients % processes)
            share = spec.max_requests // processes + int(index < spec.max_requests % processes)
            worker = context.Process(
                target=_generator_process,
                args=(spec, clients, share, start_barrier, results),
                daemon=True,
            )
            worker.start()
            workers.append(worker)
        start_barrier.wait(timeout=STARTUP_TIMEOUT_SECONDS)
        time.sleep(spec.warmup_seconds)
        cpu_before = server_cpu()
        timeout = spec.duration_seconds + JOIN_GRACE_SECONDS
        parts = [results.get(timeout=timeout) for _ in workers]
        cpu_seconds = server_cpu() - cpu_before
    finally:
        for worker in workers:
            worker.join(timeout=JOIN_GRACE_SECONDS)
            if worker.is_alive():
                worker.kill()
                worker.join()
    return combine(spec, parts, cpu_seconds)
