"""The layer contracts in pyproject.toml hold for the code, and they catch a wrong-way import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# What the `lint-imports` console script runs, started with this interpreter so no PATH lookup is needed.
LINT_IMPORTS = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"

LAYERS = "classifier (inference) imports neither training, serving nor the command line"
EXTRAS = "classifier and the classify command import no package of the train or serve extras"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},  # one contract per line in the report
    )


def test_the_code_keeps_the_layer_contracts():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


# A throwaway tree with the real package names: each module holds the source given here. The
# function-level imports are the ones the contracts ignore by name.
TREE = {
    "classifier/predict.py": "from classifier import helpers\n",
    "classifier/helpers.py": "import numpy\n",
    "classifier/model.py": "def lora():\n    import peft\n",
    "classifier/baselines.py": "def tfidf():\n    import sklearn\n",
    "training/baselines.py": "import sklearn\nimport classifier.baselines\n",
    "training/fit.py": "import datasets\n",
    "serving/app.py": "import fastapi\nimport classifier.predict\n",
    "surveilrisk/commands/common.py": "def tfidf():\n    import training.baselines\n",
    "surveilrisk/commands/classify.py": "from surveilrisk.commands import common\nimport classifier.predict\n",
    "surveilrisk/commands/service.py": "from surveilrisk.commands import common\nimport serving.app\n",
    "surveilrisk/cli.py": "import surveilrisk.commands.classify\nimport training.fit\n",
}


def _tree(root: Path, changes: dict[str, str]) -> Path:
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    for name, source in {**TREE, **changes}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    for folder in ("classifier", "training", "serving", "surveilrisk", "surveilrisk/commands"):
        (root / folder / "__init__.py").write_text("")
    return root


def test_the_throwaway_tree_keeps_the_contracts(tmp_path: Path):
    result = _lint_imports(_tree(tmp_path, {}))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("helpers", "broken", "chain"),
    [
        # classifier.predict reaches training through a helper module
        ("import training.fit\n", LAYERS, "classifier.helpers -> training.fit"),
        # inference pulling in a package of the train extra
        ("import datasets\n", EXTRAS, "classifier.helpers -> datasets"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(tmp_path: Path, helpers: str, broken: str, chain: str):
    result = _lint_imports(_tree(tmp_path, {"classifier/helpers.py": helpers}))

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{broken} BROKEN" in result.stdout
    assert chain in result.stdout
