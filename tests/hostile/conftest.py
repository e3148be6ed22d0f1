"""A live server shared by the hostile battery, a loopback canary, and the timing report."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.hostile.server import LiveServer, Sampler

SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    """Timings are reported, never asserted."""
    for line in SUMMARY:
        terminalreporter.write_line(line)


class Canary:
    """A loopback TCP listener that counts connections: any count above 0 means a file reached out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(scope="session")
def canary():
    c = Canary()
    yield c
    c.close()


@pytest.fixture(scope="session")
def battery(tmp_path_factory):
    """The server, its keys, the sampler, and the per-case timing records."""
    data = tmp_path_factory.mktemp("hostile")
    server = LiveServer(data).start()
    assert server.admin_key, server.log()
    admin = {"Authorization": f"Bearer {server.admin_key}"}
    keys = {"ada": server.admin_key}
    with httpx.Client(base_url=server.url, timeout=30) as c:
        for role, name in (("screener", "alice"), ("screener", "bob"), ("reviewer", "rita")):
            r = c.post("/v1/keys", json={"role": role, "name": name}, headers=admin)
            assert r.status_code == 201, r.text
            keys[name] = r.json()["key"]
    sampler = Sampler(server.url, server.pid)
    sampler.start()
    state = {"server": server, "keys": keys, "sampler": sampler, "cases": []}
    yield state
    sampler.stop()
    server.stop()
    _report(state, data)


def _report(state: dict, data: Path) -> None:
    sampler: Sampler = state["sampler"]
    cases = state["cases"]
    report = {
        "cases": cases,
        "n_cases": len(cases),
        "slowest_case_s": max((c["seconds"] for c in cases), default=0),
        "statuses": sorted({c["status"] for c in cases}),
        "healthz_samples": len(sampler.health_ms),
        "healthz_p50_ms": round(sampler.percentile(0.5), 1),
        "healthz_p99_ms": round(sampler.percentile(0.99), 1),
        "healthz_max_ms": round(max(sampler.health_ms, default=0), 1),
        "healthz_failures": sampler.health_failures,
        "peak_rss_server_mb": round(sampler.peak_rss_mb, 1),
        "peak_rss_with_children_mb": round(sampler.peak_tree_rss_mb, 1),
    }
    out = Path(os.environ.get("SURVEILRISK_HOSTILE_REPORT", data / "hostile-report.json"))
    out.write_text(json.dumps(report, indent=1))
    SUMMARY.append(f"hostile battery: {len(cases)} cases; report in {out}")
    for c in sorted(cases, key=lambda c: -c["seconds"])[:10]:
        SUMMARY.append(f"  {c['seconds']:6.2f} s  {c['status']}  {c['family']}/{c['name']}")
    SUMMARY.append(
        "  /healthz p50 {healthz_p50_ms} ms, p99 {healthz_p99_ms} ms, max {healthz_max_ms} ms, failures "
        "{healthz_failures}; peak RSS server {peak_rss_server_mb} MB, with parsing children "
        "{peak_rss_with_children_mb} MB".format(**report)
    )
