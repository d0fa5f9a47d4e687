"""pip-audit over the installed environment: no dependency with a known vulnerability.

pip-audit asks a vulnerability service (PyPI's JSON API, or OSV) about every installed
distribution. Whether that service can be reached is decided first, by asking about a release
known to be vulnerable (Jinja2 2.10: CVE-2019-10906 and later advisories): a service that cannot
name those cannot vouch for our pins either.

- pip-audit not installed: a skip locally, a failure under CI=true (it is a test dependency).
- No service answers (an offline CI machine, or a PyPI mirror without the vulnerability data):
  a skip that says so, because a network outage must not turn the build red; set
  THREADLINE_REQUIRE_AUDIT=1 where the audit must run (the release pipeline) to make it a failure.
- A service answers: every finding fails the test with its id and the fixed versions, unless
  IGNORED says why it does not apply.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.availability import server_missing

#: A release with published advisories: the probe that a service really answers.
KNOWN_VULNERABLE = "jinja2==2.10"
SERVICES = ("pypi", "osv")
#: Vulnerability id -> why it does not affect Threadline (keep empty unless argued in review).
IGNORED: dict[str, str] = {}


def pip_audit(*args: str, timeout: float = 240) -> tuple[int, dict[str, Any] | None, str]:
    done = subprocess.run([sys.executable, "-m", "pip_audit", "--progress-spinner", "off", "-f", "json", *args],
                          capture_output=True, text=True, timeout=timeout)
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    return done.returncode, report, done.stderr[-500:]


def answering_service(tmp_path: Path) -> str | None:
    """The first service that names the advisories of KNOWN_VULNERABLE, or None."""
    probe = tmp_path / "probe-requirements.txt"
    probe.write_text(f"{KNOWN_VULNERABLE}\n")
    for service in SERVICES:
        _, report, _ = pip_audit("-r", str(probe), "--no-deps", "--disable-pip", "-s", service, timeout=60)
        if report and any(dep.get("vulns") for dep in report.get("dependencies", [])):
            return service
    return None


def test_installed_dependencies_have_no_known_vulnerabilities(tmp_path: Path) -> None:
    if importlib.util.find_spec("pip_audit") is None:
        server_missing("pip-audit (pip install pip-audit)")
    service = answering_service(tmp_path)
    if service is None:
        message = (f"no vulnerability service answers from here ({', '.join(SERVICES)}: {KNOWN_VULNERABLE} came back "
                   "without its advisories), so the dependency audit could not run")
        if os.environ.get("THREADLINE_REQUIRE_AUDIT") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    code, report, stderr = pip_audit("--local", "--skip-editable", "-s", service)
    assert report is not None, f"pip-audit gave no report (exit {code}): {stderr}"
    findings = [f"{dep['name']} {dep['version']}: {v['id']} (fixed in {', '.join(v.get('fix_versions') or ['-'])})"
                for dep in report["dependencies"] for v in dep.get("vulns", []) if v["id"] not in IGNORED]
    assert not findings, "dependencies with known vulnerabilities (bump the pins):\n" + "\n".join(findings)
