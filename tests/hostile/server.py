"""A real `surveilrisk serve` subprocess for the hostile battery, with health and memory sampling."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]

# Small limits, so each hostile case is decided in seconds (the defaults are documented in the README).
BATTERY_ENV = {
    "SURVEILRISK_MODEL": "keyword",
    "SURVEILRISK_MAX_UPLOAD_BYTES": str(12 * 1024 * 1024),
    "SURVEILRISK_MAX_REQUEST_BYTES": str(16 * 1024 * 1024),
    "SURVEILRISK_MAX_JSON_BODY_BYTES": str(1024 * 1024),
    "SURVEILRISK_EXTRACTION_TIMEOUT_S": "4",
    "SURVEILRISK_EXTRACTION_MEMORY_MB": "768",
    "SURVEILRISK_MAX_PAGES": "300",
    "SURVEILRISK_MAX_CHARS": "200000",
    "SURVEILRISK_REQUEST_TIMEOUT_S": "20",
    "SURVEILRISK_BATCH_BUDGET_S": "4",
    "SURVEILRISK_BODY_IDLE_TIMEOUT_S": "2",
    "SURVEILRISK_AUTH_MAX_FAILURES": "20",
    "SURVEILRISK_AUTH_LOCKOUT_S": "3",
    "SURVEILRISK_RATE_LIMIT_PER_MINUTE": "100000",
    "SURVEILRISK_SERVER_GRACEFUL_SHUTDOWN_S": "10",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children() -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            out.setdefault(ppid, []).append(int(entry.name))
    return out


def grandchildren(pid: int) -> list[int]:
    """Processes two levels below the server: the parsing children under its forkserver."""
    kids = _children()
    return [g for c in kids.get(pid, []) for g in kids.get(c, [])]


def tree_rss_mb(pid: int) -> tuple[float, float]:
    """RSS of the process and of it plus all its descendants, in MB (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
        m = re.search(r"VmRSS:\s+(\d+) kB", status)
        rss[int(entry.name)] = int(m.group(1)) if m else 0
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return rss.get(pid, 0) / 1024, total / 1024


@dataclass
class Sampler:
    """Polls /healthz and the server's memory in the background while the battery runs."""

    url: str
    pid: int
    health_ms: list[float] = field(default_factory=list)
    health_failures: int = 0
    peak_rss_mb: float = 0.0
    peak_tree_rss_mb: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                t = time.perf_counter()
                try:
                    ok = client.get(self.url + "/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.health_ms.append((time.perf_counter() - t) * 1000)
                self.health_failures += not ok
                own, tree = tree_rss_mb(self.pid)
                self.peak_rss_mb = max(self.peak_rss_mb, own)
                self.peak_tree_rss_mb = max(self.peak_tree_rss_mb, tree)
                self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)

    def percentile(self, q: float) -> float:
        values = sorted(self.health_ms)
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(q * len(values)))]


class LiveServer:
    """`python -m surveilrisk serve` on a free port with its own data folder."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **BATTERY_ENV, **(env or {})}
        self.env.update(
            {
                "SURVEILRISK_DATA_DIR": str(data_dir),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"server-{self.port}.log"
        self.admin_key: str | None = None

    def start(self, timeout: float = 120) -> LiveServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "surveilrisk", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"server did not start in {timeout} s:\n{self.log()}")
        found = re.findall(r"(sr_[A-Za-z0-9_-]{20,})", self.log())
        if found and self.admin_key is None:
            self.admin_key = found[0]
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def terminate(self, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill9(self) -> None:
        assert self.proc is not None
        # The parsing children live under a forkserver: end the whole tree like a power cut would.
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
