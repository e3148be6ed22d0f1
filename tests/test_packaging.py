"""The package works installed from its wheel, not only from a checkout; its dependency lists hold together."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
CODE_PACKAGES = ("classifier", "training", "serving", "surveilrisk")


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (`psycopg[binary]>=3.2` → `psycopg`)."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def test_every_dependency_and_extra_is_pinned_in_the_lock():
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    pinned = {_name(line) for line in lock if line and not line.startswith("#")}
    project = PYPROJECT["project"]
    wanted = [*project["dependencies"], *(r for reqs in project["optional-dependencies"].values() for r in reqs)]
    # torch is installed first from the CPU wheel, outside the lock (see the Makefile).
    missing = {_name(r) for r in wanted} - pinned - {"torch"}
    assert not missing, f"add exact pins to requirements.lock: {sorted(missing)}"
    assert set(project["optional-dependencies"]) == {"train", "serve", "ray", "dev"}


def test_the_package_list_names_every_code_folder():
    listed = set(SETUPTOOLS["packages"])
    folders = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for top in CODE_PACKAGES
        for path in (ROOT / top).rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert folders <= listed, f"add to [tool.setuptools] packages: {sorted(folders - listed)}"


def test_outside_a_checkout_files_come_from_the_package_and_data_goes_to_the_user(monkeypatch, tmp_path: Path):
    import classifier
    from classifier import resources

    monkeypatch.setattr(resources, "CHECKOUT", tmp_path)  # a folder with no pyproject.toml or data/
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    packaged = Path(classifier.__file__).resolve().parent / "shipped"
    assert not resources.in_checkout()
    assert resources.default_data_dir() == tmp_path / "xdg" / "surveilrisk"
    assert resources.shipped_model_dir() == packaged / "model"
    assert resources.data_file("taxonomy.yaml") == packaged / "taxonomy.yaml"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resources.default_data_dir() == tmp_path / "home" / ".local" / "share" / "surveilrisk"


def _source_tree(dest: Path) -> Path:
    """The files a wheel is built from, copied so the build leaves nothing in the checkout."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    for top in CODE_PACKAGES:
        shutil.copytree(ROOT / top, dest / top, ignore=shutil.ignore_patterns("__pycache__"))
    for package, folder in SETUPTOOLS["package-dir"].items():
        for pattern in SETUPTOOLS["package-data"][package]:
            for path in (ROOT / folder).glob(pattern):
                target = dest / path.relative_to(ROOT)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
    return dest


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """No pip configuration, no project settings, no paths into the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "SURVEILRISK_", "PYTHON", "VIRTUAL_ENV", "COV_CORE"))
    }
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.slow
def test_the_installed_wheel_classifies_outside_the_checkout(tmp_path: Path):
    env = _clean_env(tmp_path)
    (tmp_path / "home").mkdir()

    # Build the wheel with this environment's setuptools, then check what it carries.
    dist = tmp_path / "dist"
    build = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), "."],
        cwd=_source_tree(tmp_path / "src"),
        env=env,
    )
    (wheel,) = dist.glob("surveilrisk-*.whl")

    # A bare venv whose only extra path is this interpreter's site-packages (torch & co.), through a .pth file.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    purelib = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, env
        ).stdout.strip()
    )
    (purelib / "outer-site-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = _run(
        [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", str(wheel)],
        cwd=tmp_path,
        env=env,
    )
    for output in (build, install):
        text = output.stdout + output.stderr
        assert not re.search(r"warning|deprecat", text, re.I), text[-3000:]

    # Classify from a folder that is not the checkout: model, taxonomy and policy come from the wheel.
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(ROOT / "examples" / "vendor-page.html", work / "page.html")
    surveilrisk = str(venv / "bin" / "surveilrisk")
    result = json.loads(_run([surveilrisk, "classify", "page.html", "--format", "json"], work, env).stdout)
    assert result["tier"] in {"high", "critical"}, result["tier"]
    assert "face_identification" in {c["id"] for c in result["capabilities"]}
    assert result["model_version"] == json.loads((ROOT / "models" / "shipped" / "artifact.json").read_text())["version"]

    where = _run(
        [
            str(python),
            "-c",
            "import classifier, serving; from classifier.resources import shipped_model_dir, data_file;"
            "print(classifier.__file__, serving.__file__, shipped_model_dir(), data_file('policy.yaml'))",
        ],
        work,
        env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(purelib) for p in where), where

    # The service's SQLite default goes to the user data folder, migrations and all.
    _run([surveilrisk, "keys", "create", "--role", "admin", "--name", "wheel test"], work, env)
    assert (tmp_path / "xdg" / "surveilrisk" / "surveilrisk.db").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["page.html"]
