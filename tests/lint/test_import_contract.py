"""The architecture holds: import-linter's contract (pyproject's [tool.importlinter]) is kept, every package says
what lives in it, and the README's map of the package is the tree as it is."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "threadline"


def _packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.rglob("__init__.py") if "__pycache__" not in p.parts)


def test_import_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_contract_has_no_exceptions_and_covers_every_top_level_package() -> None:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    assert not [c["name"] for c in contracts if c.get("ignore_imports")], "exceptions belong in the contract's text"
    named = " ".join(str(c) for c in contracts)
    top = {p.stem for p in PACKAGE.iterdir()
           if (p / "__init__.py").exists() or (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))}
    missing = sorted(n for n in top if f"threadline.{n}" not in named)
    assert not missing, f"not placed in any contract: {missing}"


def test_every_package_says_what_lives_there() -> None:
    silent = [str(p.relative_to(ROOT)) for p in _packages()
              if not ast.get_docstring(ast.parse((p / "__init__.py").read_text(encoding="utf-8")))]
    assert not silent, f"packages without a docstring: {silent}"


def _readme_map() -> set[str]:
    """The folders the README's "How it works" block names, as paths ("threadline/sync/mail")."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## How it works\n", 1)[1]
    block = section.split("```\n", 2)[1]
    folders, stack = set(), []
    for line in block.splitlines():
        match = re.match(r"^( *)([\w.]+)/\s", line + " ")
        if not match:
            continue
        depth = len(match.group(1)) // 2
        stack[depth:] = [match.group(2)]
        folders.add("/".join(stack))
    return {f for f in folders if f == "threadline" or f.startswith("threadline/")}


def test_readme_map_is_the_tree() -> None:
    tree = {str(p.relative_to(ROOT)) for p in _packages()}
    named = _readme_map()
    assert named == tree, f"in the tree, not the README: {sorted(tree - named)}; " \
                          f"in the README, not the tree: {sorted(named - tree)}"
