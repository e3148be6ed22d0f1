"""The layer contracts in pyproject.toml hold for the code, and they would catch a wrong-way import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The `lint-imports` console script, run with this interpreter so no PATH lookup is needed.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_code_keeps_the_layer_contracts():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    for module, source in modules.items():
        (root / name / f"{module}.py").write_text(source)


def test_a_classifier_to_training_import_breaks_the_contract(tmp_path: Path):
    # A throwaway tree with the same package names and a copy of the real contracts.
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    # classifier.predict reaches training through a helper module.
    _package(
        tmp_path, "classifier", {"predict": "from classifier import helpers\n", "helpers": "import training.fit\n"}
    )
    _package(tmp_path, "training", {"fit": "VALUE = 1\n"})
    _package(tmp_path, "serving", {"app": "APP = None\n"})
    _package(tmp_path, "surveilrisk", {"cli": "import serving.app\nimport training.fit\n"})

    result = _lint_imports(tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 kept, 1 broken" in result.stdout
    # The report names the broken contract and the import that breaks it.
    assert "classifier (inference) imports neither training, serving nor the command line BROKEN" in result.stdout
    assert "classifier.helpers -> training.fit" in result.stdout
