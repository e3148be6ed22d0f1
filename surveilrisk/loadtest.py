"""`surveilrisk loadtest`: the service on loopback under 1, 4, 8, 16 concurrent clients.

Starts `uvicorn serving.asgi:app` on 127.0.0.1 with a throw-away SQLite database, creates a
screener key, then each client posts a 2-page datasheet (a generated PDF), alternating
POST /v1/classify and POST /v1/screenings, while a prober times GET /healthz every 50 ms.
Bounded: a fixed number of requests per client and level. Reports p50/p95/p99 latency,
throughput, 503s (admission control), /healthz p99, time to ready and server RSS.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from classifier.resources import CHECKOUT

DATASHEET = [
    "NightWatch NX-300 edge analytics camera. Datasheet, revision 4.",
    "The NX-300 detects faces in the live stream and compares them with a watch-list of enrolled persons; "
    "a match raises an alarm with both photos at the operator console within one second.",
    "Licence plate recognition reads plates of passing vehicles at up to 160 km/h and checks them against hotlists.",
    "Cross-camera re-identification follows a person of interest across sites by clothing and gait.",
    "Sensor: 1/1.8 inch progressive CMOS, 4 MP at 30 fps. Lens: 2.8-12 mm motorised varifocal, P-iris.",
    "Network: 2 x 1 GbE, ONVIF Profile S/T/M, RTSP, HTTPS, SNMPv3. Storage: dual microSD up to 1 TB each.",
    "Environmental: IP67 and IK10 rated, operating temperature -40 C to +60 C, heater and fan included.",
    "Power: PoE++ (IEEE 802.3bt) or 24 VAC, maximum 38 W with IR illuminators on.",
    "Management: web interface, REST API and SDK; integrates with major video management systems.",
    "Certifications: CE, FCC Part 15 Class A, UL 62368-1, NDAA compliant.",
]


def datasheet_pdf(pages: int = 2) -> bytes:
    """A real two-page PDF datasheet (reportlab, a dev dependency); plain text if it is missing."""
    try:
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import getSampleStyleSheet
        from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate
    except ImportError:
        return ("\n".join(DATASHEET * pages)).encode()
    buf = io.BytesIO()
    style = getSampleStyleSheet()["BodyText"]
    story: list[Any] = []
    for page in range(pages):
        story.extend(Paragraph(p, style) for p in DATASHEET * 3)
        if page < pages - 1:
            story.append(PageBreak())
    SimpleDocTemplate(buf, pagesize=A4).build(story)
    return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss / 2**20)
    except Exception:  # psutil missing or the process gone
        return float("nan")


def _pct(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    a = np.asarray(values)
    return {f"p{q}": float(np.percentile(a, q)) for q in (50, 95, 99)}


async def _level(base: str, key: str, pdf: bytes, clients: int, per_client: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: dict[int, int] = {}
    health: list[float] = []
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {key}"}

    async def client(i: int, http: httpx.AsyncClient) -> None:
        for n in range(per_client):
            files = {"file": ("nx300.pdf", pdf, "application/pdf")}
            start = time.perf_counter()
            try:
                if (i + n) % 2:
                    data = {"destination": "BR", "end_user_type": "public_security", "reference": f"load-{i}-{n}"}
                    r = await http.post(f"{base}/v1/screenings", files=files, data=data, headers=headers)
                else:
                    r = await http.post(f"{base}/v1/classify", files=files, headers=headers)
            except httpx.TimeoutException:  # counted as status 0: the client gave up
                latencies.append(time.perf_counter() - start)
                statuses[0] = statuses.get(0, 0) + 1
                continue
            latencies.append(time.perf_counter() - start)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 503:
                await asyncio.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0))

    async def prober(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            start = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):  # a failed probe still counts with its time
                await http.get(f"{base}/healthz")
            health.append(time.perf_counter() - start)
            await asyncio.sleep(0.05)

    limits = httpx.Limits(max_connections=clients + 2)
    async with httpx.AsyncClient(timeout=120, limits=limits) as http, httpx.AsyncClient(timeout=30) as probe_http:
        probe = asyncio.create_task(prober(probe_http))
        start = time.perf_counter()
        try:
            await asyncio.gather(*(client(i, http) for i in range(clients)))
        finally:
            wall = time.perf_counter() - start
            stop.set()
            await probe
    ok = sum(v for k, v in statuses.items() if k < 300)
    return {
        "clients": clients,
        "requests": len(latencies),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_s": _pct(latencies),
        "throughput_rps": ok / wall,
        "healthz_s": _pct(health),
    }


def run_loadtest(
    levels: list[int],
    per_client: int = 6,
    queue_limit: int | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    from surveilrisk.bench import machine

    pdf = datasheet_pdf()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="surveilrisk-load-") as tmp:
        env = {**os.environ, "SURVEILRISK_DATA_DIR": tmp, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        if queue_limit is not None:
            env["SURVEILRISK_INFERENCE_QUEUE_LIMIT"] = str(queue_limit)
        made = subprocess.run(
            [sys.executable, "-m", "surveilrisk", "keys", "create", "--role", "screener", "--name", "loadtest"],
            cwd=CHECKOUT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = made.stdout.strip().splitlines()[-1]
        cmd = [sys.executable, "-m", "uvicorn", "serving.asgi:app", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--log-level", "warning"]
        start = time.perf_counter()
        server = subprocess.Popen(cmd, cwd=CHECKOUT, env=env)
        try:
            ready_s = _wait_ready(base, server, start)
            rss_ready = _rss_mb(server.pid)
            echo(f"service ready in {ready_s:.2f} s, RSS {rss_ready:.0f} MB")
            rows = []
            for c in levels:
                row = asyncio.run(_level(base, key, pdf, c, per_client))
                rows.append(row)
                lat, h = row["latency_s"], row["healthz_s"]
                echo(
                    f"{c:>3} clients: p50 {lat['p50']:.2f} s  p95 {lat['p95']:.2f} s  p99 {lat['p99']:.2f} s  "
                    f"{row['throughput_rps']:.2f} req/s  statuses {row['statuses']}  "
                    f"healthz p99 {1000 * h['p99']:.0f} ms"
                )
            rss_end = _rss_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
    return {
        "machine": machine(),
        "document": f"{len(pdf):,}-byte 2-page PDF datasheet",
        "ready_s": ready_s,
        "rss_mb_after_load": rss_ready,
        "rss_mb_after_test": rss_end,
        "queue_limit": queue_limit,
        "levels": rows,
    }


def _wait_ready(base: str, server: subprocess.Popen[bytes], start: float, timeout: float = 120) -> float:
    import httpx

    while time.perf_counter() - start < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"the server was not ready within {timeout:g} s")
