"""The package type-checks: mypy over threadline/, with pyproject's [tool.mypy] settings (pydantic plugin,
per-module ignore_missing_imports only for libraries that ship no types, unused ignores reported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy", "threadline"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
