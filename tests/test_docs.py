"""The README must describe the project as it is: settings, commands, and curl examples that work."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import typer

from serving.settings import ServiceSettings as Settings
from surveilrisk.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"SURVEILRISK_{name.upper()}" in README, f"setting {name} is not in the README settings table"


def _commands(group: Any, prefix: str = "") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}".strip()
        # Typer vendors its own click, so look for sub-commands rather than a click class.
        if getattr(cmd, "commands", None):
            out.extend(_commands(cmd, full))
        else:
            out.append(full)
    return out


def test_every_command_is_documented():
    commands = _commands(typer.main.get_command(app))  # type: ignore[arg-type]
    assert {"classify", "evaluate", "train", "serve", "data check", "audit verify", "feedback export"} <= set(commands)
    for cmd in commands:
        words = cmd.split()
        documented = f"surveilrisk {cmd}" in README or (
            len(words) == 2 and re.search(rf"surveilrisk {words[0]} [\w|]*\b{words[1]}\b", README)
        )
        assert documented, f"`surveilrisk {cmd}` is not mentioned in the README"


def test_quick_start_and_ci_use_the_same_test_command():
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "make run" in quick and "make test" in quick
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


@pytest.mark.slow
def test_readme_curl_examples_work(tmp_path, shipped_classifier):
    """Run the API section's shell blocks against a real server, failing on any HTTP error."""
    import socket
    import threading
    import time

    import uvicorn

    from serving.app import create_app
    from serving.auth import create_key
    from serving.db import make_engine, make_session_factory, session_scope, upgrade
    from serving.settings import ServiceSettings as Settings

    settings = Settings(data_dir=tmp_path / "var")
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    with session_scope(make_session_factory(engine)) as s:
        admin = create_key(s, role="admin", name="readme admin")[1]
    engine.dispose()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, classifier=shipped_classifier), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        api = README.split("## API", 1)[1].split("\n## Settings", 1)[0]
        blocks = re.findall(r"```bash\n(.*?)```", api, re.S)
        script = "\n".join(line for b in blocks for line in b.splitlines() if not line.startswith("export ADMIN_KEY="))
        assert script.count("curl") >= 15
        script = script.replace("http://127.0.0.1:8000", f"http://127.0.0.1:{port}").replace("curl -s", "curl -sSf")
        (tmp_path / "examples").symlink_to(ROOT / "examples")
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={**os.environ, "ADMIN_KEY": admin},
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
        assert (tmp_path / "feedback.jsonl").read_text().count('"source": "feedback"') == 1
        assert "screening" not in done.stderr.lower()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
