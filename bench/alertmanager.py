"""Benchmark alert ingest: Prometheus Alertmanager against Tocsin's Alertmanager webhook.

One run measures, on this machine and with the same load generator:

1. Prometheus Alertmanager (the Debian package prometheus-alertmanager,
   started on 127.0.0.1 with a fresh storage folder) receiving N alerts at
   one alert per POST /api/v2/alerts request, and notifying a webhook
   receiver that this benchmark runs in a separate process. It reports
   accepted alerts/s and the alert-to-webhook latency (post sent to
   notification received) at p50 and p99. The route groups by every label,
   so every alert is its own group and is notified after ``group_wait``
   (0 s here). When the package is missing, that side is skipped with a
   message and Tocsin is still measured.
2. ``tocsin serve`` on a fresh data folder with a replication set, a
   response plan, a rule on the default bus that matches firing
   Alertmanager alerts, and a webhook registration. The same N alerts are
   posted to the webhook, one alert per request in the Alertmanager
   version 4 format. It reports accepted alerts/s and the alert-to-incident
   latency: from the post to the incident's creation time for the first
   alert, and to the trigger timeline event's update time for the alerts
   that join the open incident.
3. PutEvents through boto3 of "CloudWatch Alarm State Change" events (one
   entry per request, with a custom source because EventBridge reserves
   ``aws.*`` sources for AWS) matched by a second rule to a second response
   plan, with the same two measurements.

It prints one JSON document and a table, with Tocsin's figures as ratios of
Alertmanager's. Times on both sides are wall-clock times of this machine,
as the Tocsin server runs with clock speed 1.

Usage (keep N small while the machine is shared)::

    .venv/bin/python -m bench.alertmanager --alerts 200 --clients 4
    .venv/bin/python -m bench.alertmanager --alerts 2000 --clients 8 --backend postgresql

Options:

- ``--alerts N``: alerts posted to each side (default 500);
- ``--clients C``: concurrent keep-alive connections of the generator (default 4);
- ``--put-events N``: PutEvents calls (default: as many as alerts);
- ``--backend sqlite|postgresql``: the Tocsin database. PostgreSQL gets a
  scratch database next to ``--database-url``, a local maintenance
  database (default postgresql://postgres@127.0.0.1:5432/test);
- ``--timeout S``: maximum wait for notifications and incidents, in seconds
  (default 120).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.harness import DEFAULT_POSTGRESQL_URL, HarnessError, free_port, tocsin_server

REGION = "us-east-1"
ALERTMANAGER_BINARY = "prometheus-alertmanager"
ALERTMANAGER_PACKAGE = "prometheus-alertmanager"
STARTUP_SECONDS = 30.0
POLL_SECONDS = 0.5
ALERT_LABEL = "bench_id"
TRIGGER_EVENT_TYPE = "SSM Incident Trigger"
ALARM_SOURCE = "bench.cloudwatch"
ALARM_DETAIL_TYPE = "CloudWatch Alarm State Change"


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values`` (seconds in, milliseconds out)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index] * 1000.0


def summary(posted: int, accepted: int, elapsed: float, latencies: list[float]) -> dict[str, Any]:
    return {
        "alerts_posted": posted,
        "alerts_accepted": accepted,
        "accepted_per_second": accepted / elapsed if elapsed > 0 else 0.0,
        "latencies_measured": len(latencies),
        "latency_p50_ms": percentile(latencies, 0.50),
        "latency_p99_ms": percentile(latencies, 0.99),
    }


# Load generator: C keep-alive connections post prepared bodies one at a time.


async def _read_status(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    length = 0
    for line in header_block.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise ValueError("chunked responses are not supported by the generator")
    return int(status_line.split(b" ", 2)[1]), await reader.readexactly(length)


async def _post_all(
    port: int, path: str, bodies: list[bytes], clients: int
) -> tuple[float, list[tuple[int, float, int, bytes]]]:
    """Post every body; return the elapsed seconds and (index, sent time, status, body)."""
    queue = list(enumerate(bodies))
    queue.reverse()
    results: list[tuple[int, float, int, bytes]] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue:
                index, body = queue.pop()
                head = (
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                )
                sent = time.time()
                writer.write(head.encode() + body)
                status, answer = await _read_status(reader)
                results.append((index, sent, status, answer))
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.monotonic() - started, results


def post_all(
    port: int, path: str, bodies: list[bytes], clients: int
) -> tuple[float, list[tuple[int, float, int, bytes]]]:
    return asyncio.run(_post_all(port, path, bodies, clients))


def report_errors(name: str, results: list[tuple[int, float, int, bytes]]) -> int:
    """Print the first failed responses and return how many requests succeeded."""
    failed = [result for result in results if not 200 <= result[2] < 300]
    for _index, _sent, status, body in failed[:3]:
        print(f"{name}: HTTP {status}: {body[:300]!r}", file=sys.stderr)
    return len(results) - len(failed)


# Alertmanager side.


def _receiver_process(port: int, ready: Any) -> None:
    """Serve the webhook receiver: a POST records arrivals, and a GET returns them as JSON."""
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            received = time.time()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            payload = json.loads(body)
            with lock:
                for alert in payload.get("alerts", []):
                    arrivals.setdefault(alert["labels"][ALERT_LABEL], received)
            self._reply(b"{}")

        def do_GET(self) -> None:
            with lock:
                body = json.dumps(arrivals).encode()
            self._reply(body)

        def _reply(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ready.set()
    server.serve_forever()


def alertmanager_config(receiver_port: int) -> str:
    return json.dumps(
        {
            "route": {
                "receiver": "bench",
                "group_by": ["..."],
                "group_wait": "0s",
                "group_interval": "1m",
                "repeat_interval": "4h",
            },
            "receivers": [
                {
                    "name": "bench",
                    "webhook_configs": [
                        {"url": f"http://127.0.0.1:{receiver_port}/", "send_resolved": False}
                    ],
                }
            ],
        }
    )


def wait_http(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise HarnessError(f"{url} did not respond with 200 within {STARTUP_SECONDS:.0f} s")


def alertmanager_bodies(count: int) -> list[bytes]:
    starts = datetime.now(UTC).isoformat()
    return [
        json.dumps(
            [
                {
                    "labels": {"alertname": "BenchAlert", ALERT_LABEL: str(index)},
                    "annotations": {"summary": f"Bench alert {index}"},
                    "startsAt": starts,
                    "generatorURL": "http://127.0.0.1/bench",
                }
            ]
        ).encode()
        for index in range(count)
    ]


def measure_alertmanager(alerts: int, clients: int, timeout: float) -> dict[str, Any] | None:
    """Run Alertmanager and the receiver, post the alerts and collect notifications."""
    binary = shutil.which(ALERTMANAGER_BINARY)
    if binary is None:
        print(
            f"Skipping Alertmanager: {ALERTMANAGER_BINARY} is not installed. Install the Debian "
            f"package with `apt-get install {ALERTMANAGER_PACKAGE}` to measure it.",
            file=sys.stderr,
        )
        return None
    folder = Path(tempfile.mkdtemp(prefix="bench-alertmanager-"))
    receiver_port, port = free_port(), free_port()
    (folder / "alertmanager.yml").write_text(alertmanager_config(receiver_port))
    ready = multiprocessing.Event()
    receiver = multiprocessing.Process(
        target=_receiver_process, args=(receiver_port, ready), daemon=True
    )
    receiver.start()
    ready.wait(STARTUP_SECONDS)

    log = open(folder / "alertmanager.log", "wb")  # noqa: SIM115 - closed in finally
    command = [
        binary,
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", time.monotonic() + STARTUP_SECONDS)
        elapsed, results = post_all(port, "/api/v2/alerts", alertmanager_bodies(alerts), clients)
        accepted = report_errors("alertmanager", results)
        sent = {str(index): at for index, at, status, _ in results if 200 <= status < 300}

        arrivals: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while len(arrivals) < len(sent) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            with urllib.request.urlopen(f"http://127.0.0.1:{receiver_port}/", timeout=10) as reply:
                arrivals = json.loads(reply.read())
        latencies = [arrivals[key] - sent[key] for key in sent if key in arrivals]
        return {
            "version": alertmanager_version(binary),
            **summary(alerts, accepted, elapsed, latencies),
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        receiver.terminate()
        receiver.join(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def alertmanager_version(binary: str) -> str:
    completed = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    text = (completed.stdout or completed.stderr).strip().splitlines()
    return text[0] if text else "unknown"


# Tocsin side.


def tocsin_bodies(count: int) -> list[bytes]:
    starts = datetime.now(UTC).isoformat()
    return [
        json.dumps(
            {
                "version": "4",
                "status": "firing",
                "receiver": "tocsin",
                "groupKey": f'{{}}:{{{ALERT_LABEL}="{index}"}}',
                "externalURL": "http://127.0.0.1/bench",
                "alerts": [
                    {
                        "status": "firing",
                        "labels": {"alertname": "BenchAlert", ALERT_LABEL: str(index)},
                        "annotations": {"summary": f"Bench alert {index}"},
                        "startsAt": starts,
                        "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://127.0.0.1/bench",
                        "fingerprint": f"{index:016x}",
                    }
                ],
            }
        ).encode()
        for index in range(count)
    ]


def prepare_account(server: Any) -> tuple[Any, Any, dict[str, str]]:
    """Create an account with a replication set, two plans and two rules matching them."""
    keys = server.create_account()
    config = Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=32)

    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{server.port}",
            region_name=REGION,
            aws_access_key_id=keys.access_key_id,
            aws_secret_access_key=keys.secret_access_key,
            config=config,
        )

    incidents, events = client("ssm-incidents"), client("events")
    arn = incidents.create_replication_set(regions={REGION: {}})["arn"]
    incidents.get_waiter("wait_for_replication_set_active").wait(
        arn=arn, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    patterns = {
        "alerts": {"source": ["tocsin.alertmanager"], "detail": {"status": ["firing"]}},
        "alarms": {"source": [ALARM_SOURCE], "detail-type": [ALARM_DETAIL_TYPE]},
    }
    plans = {}
    for name, pattern in patterns.items():
        plan = incidents.create_response_plan(
            name=f"bench-{name}", incidentTemplate={"title": f"Bench {name}", "impact": 3}
        )["arn"]
        events.put_rule(Name=f"bench-{name}", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"bench-{name}", Targets=[{"Id": "plan", "Arn": plan}])
        plans[name] = plan
    return incidents, events, {"account": keys.account_id, **plans}


def create_webhook(server: Any, account_id: str) -> str:
    command = [sys.executable, "-m", "tocsin", "webhook", "create", "--account", account_id]
    command += ["--format", "alertmanager", "--home", str(server.home)]
    # The benchmark measures ingest, so the webhook's post quota must not reject any post.
    command += ["--max-per-minute", "1000000"]
    if server.database_url is not None:
        command += ["--database-url", server.database_url]
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TOCSIN_")}
    environment["TOCSIN_PUBLIC_URL"] = f"http://127.0.0.1:{server.port}"
    completed = subprocess.run(
        command, capture_output=True, text=True, env=environment, timeout=60, check=False
    )
    if completed.returncode != 0:
        raise HarnessError(f"tocsin webhook create failed: {completed.stderr}")
    return completed.stdout.strip()


def trigger_events(incidents: Any, title: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Return (incident summary, trigger event summary) of the incidents titled ``title``."""
    found = []
    only_triggers = {"equals": {"stringValues": [TRIGGER_EVENT_TYPE]}}
    for page in incidents.get_paginator("list_incident_records").paginate():
        for record in page["incidentRecordSummaries"]:
            if record["title"] != title:
                continue
            timeline = incidents.get_paginator("list_timeline_events").paginate(
                incidentRecordArn=record["arn"],
                filters=[{"key": "eventType", "condition": only_triggers}],
            )
            found += [(record, item) for part in timeline for item in part["eventSummaries"]]
    return found


def incident_arrivals(incidents: Any, title: str) -> dict[str, float]:
    """Return the epoch time at which each event id reached an incident titled ``title``.

    That is the incident's creation time for the trigger that created it,
    and the trigger timeline event's update time for a trigger that joined.
    """
    arrivals: dict[str, float] = {}
    for record, item in trigger_events(incidents, title):
        event = incidents.get_timeline_event(
            incidentRecordArn=record["arn"], eventId=item["eventId"]
        )["event"]
        data = json.loads(event["eventData"])
        created = data["triggerCount"] == 1
        moment = record["creationTime"] if created else item["eventUpdatedTime"]
        arrivals[json.loads(data["rawData"])["id"]] = moment.timestamp()
    return arrivals


def wait_for_triggers(incidents: Any, title: str, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(trigger_events(incidents, title)) < expected and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)


def latencies_of(sent: dict[str, float], arrivals: dict[str, float]) -> list[float]:
    return [arrivals[key] - sent[key] for key in sent if key in arrivals]


def measure_webhook(
    server: Any, incidents: Any, account_id: str, alerts: int, clients: int, timeout: float
) -> dict[str, Any]:
    url = create_webhook(server, account_id)
    path = "/" + url.split("/", 3)[3]
    elapsed, results = post_all(server.port, path, tocsin_bodies(alerts), clients)
    accepted = report_errors("tocsin webhook", results)
    sent = {
        json.loads(body)["EventIds"][0]: at
        for _index, at, status, body in results
        if 200 <= status < 300
    }
    wait_for_triggers(incidents, "Bench alerts", len(sent), timeout)
    arrivals = incident_arrivals(incidents, "Bench alerts")
    return summary(alerts, accepted, elapsed, latencies_of(sent, arrivals))


def alarm_entry(index: int) -> dict[str, Any]:
    detail = {
        "alarmName": f"bench-alarm-{index}",
        "state": {"value": "ALARM", "reason": "Threshold Crossed: bench"},
        "previousState": {"value": "OK", "reason": "Threshold not crossed"},
        "configuration": {"description": "Benchmark alarm"},
    }
    return {
        "Source": ALARM_SOURCE,
        "DetailType": ALARM_DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:cloudwatch:{REGION}:000000000000:alarm:bench-alarm-{index}"],
    }


def measure_put_events(
    events: Any, incidents: Any, count: int, clients: int, timeout: float
) -> dict[str, Any]:
    """Call PutEvents with one alarm event per request from ``clients`` threads."""
    sent: dict[str, float] = {}
    lock = threading.Lock()
    indexes = list(range(count))

    def worker() -> None:
        while True:
            with lock:
                if not indexes:
                    return
                index = indexes.pop()
            at = time.time()
            answer = events.put_events(Entries=[alarm_entry(index)])
            entry = answer["Entries"][0]
            if "EventId" in entry:
                with lock:
                    sent[entry["EventId"]] = at

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    wait_for_triggers(incidents, "Bench alarms", len(sent), timeout)
    arrivals = incident_arrivals(incidents, "Bench alarms")
    return summary(count, len(sent), elapsed, latencies_of(sent, arrivals))


def measure_tocsin(
    backend: str, maintenance_url: str, alerts: int, put_events: int, clients: int, timeout: float
) -> dict[str, Any]:
    with tocsin_server(backend, maintenance_url) as server:
        incidents, events, names = prepare_account(server)
        webhook = measure_webhook(server, incidents, names["account"], alerts, clients, timeout)
        alarms = measure_put_events(events, incidents, put_events, clients, timeout)
    return {"backend": backend, "webhook": webhook, "put_events": alarms}


# Report.


def ratio(value: float, anchor: float) -> float | None:
    return value / anchor if anchor else None


def table(result: dict[str, Any]) -> str:
    rows: list[tuple[str, dict[str, Any]]] = []
    if result["alertmanager"] is not None:
        rows.append(("Alertmanager (alert to webhook)", result["alertmanager"]))
    rows.append(("Tocsin webhook (alert to incident)", result["tocsin"]["webhook"]))
    rows.append(("Tocsin PutEvents (event to incident)", result["tocsin"]["put_events"]))
    lines = [f"{'':38} {'accepted/s':>11} {'p50 ms':>9} {'p99 ms':>9} {'measured':>9}"]
    for name, row in rows:
        lines.append(
            f"{name:38} {row['accepted_per_second']:11.0f} {row['latency_p50_ms']:9.1f} "
            f"{row['latency_p99_ms']:9.1f} {row['latencies_measured']:9d}"
        )
    for name, value in result["ratios"].items():
        shown = "n/a" if value is None else f"{value:.2f}"
        lines.append(f"{name}: {shown}")
    return "\n".join(lines)


def ratios(anchor: dict[str, Any] | None, tocsin: dict[str, Any]) -> dict[str, float | None]:
    if anchor is None:
        return {}
    webhook = tocsin["webhook"]
    return {
        "webhook accepted/s over Alertmanager's": ratio(
            webhook["accepted_per_second"], anchor["accepted_per_second"]
        ),
        "webhook p50 latency over Alertmanager's": ratio(
            webhook["latency_p50_ms"], anchor["latency_p50_ms"]
        ),
        "webhook p99 latency over Alertmanager's": ratio(
            webhook["latency_p99_ms"], anchor["latency_p99_ms"]
        ),
    }


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--alerts", type=int, default=500, help="Alerts posted to each side.")
    parser.add_argument("--put-events", type=int, default=None, help="PutEvents calls.")
    parser.add_argument("--clients", type=int, default=4, help="Concurrent connections.")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRESQL_URL)
    parser.add_argument("--timeout", type=float, default=120.0, help="Maximum wait, seconds.")
    arguments = parser.parse_args(argv)
    if not 1 <= arguments.alerts <= 100_000:
        parser.error("--alerts must be between 1 and 100000")
    if not 1 <= arguments.clients <= 64:
        parser.error("--clients must be between 1 and 64")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    put_events = arguments.put_events or arguments.alerts
    anchor = measure_alertmanager(arguments.alerts, arguments.clients, arguments.timeout)
    tocsin = measure_tocsin(
        arguments.backend,
        arguments.database_url,
        arguments.alerts,
        put_events,
        arguments.clients,
        arguments.timeout,
    )
    result = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "alerts": arguments.alerts,
        "clients": arguments.clients,
        "alertmanager": anchor,
        "tocsin": tocsin,
        "ratios": ratios(anchor, tocsin),
    }
    print(json.dumps(result, indent=2))
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
