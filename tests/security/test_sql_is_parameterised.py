"""SQL goes through the ORM or bound parameters: no SQL text is built with f-strings, %, + or .format().

The scan reads every module of the `threadline` package (migrations and the sandbox included) and
looks at what reaches an SQL sink (`text()`, `execute()`, `exec_driver_sql()`, `literal_column()`,
`DDL()`...). A string built from pieces is a hit, directly or through a local variable assigned in
the same function. A hit that truly needs it (DDL cannot bind identifiers) goes into ALLOWED with
its reason; nothing does today.
"""

from __future__ import annotations

import ast
from pathlib import Path

import threadline

PACKAGE = Path(threadline.__file__).parent
SINKS = {"text", "execute", "executemany", "executescript", "exec_driver_sql", "exec", "literal_column",
         "DDL", "from_statement", "TextClause"}
#: (path relative to the package, the sink call's source text) -> why it is safe.
ALLOWED: dict[tuple[str, str], str] = {}


def _is_built(node: ast.AST) -> bool:
    """A string made from pieces: f-string with values, % or + on a string, or str.format()."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return any(_is_stringish(side) for side in (node.left, node.right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return _is_stringish(node.func.value)
    return False


def _is_stringish(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr) \
        or _is_built(node)


def _sink_name(call: ast.Call) -> str | None:
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return name if name in SINKS else None


class _Scanner(ast.NodeVisitor):
    def __init__(self, source: str) -> None:
        self.source = source
        self.hits: list[tuple[int, str]] = []
        self.built_names: list[set[str]] = [set()]

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.built_names.append(set())
        self.generic_visit(node)
        self.built_names.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - the visitor protocol's name

    def visit_Assign(self, node: ast.Assign) -> None:
        if _is_built(node.value):
            self.built_names[-1].update(t.id for t in node.targets if isinstance(t, ast.Name))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if _sink_name(node) and node.args:
            first = node.args[0]
            tainted = isinstance(first, ast.Name) and first.id in self.built_names[-1]
            if _is_built(first) or tainted:
                self.hits.append((node.lineno, ast.get_source_segment(self.source, node) or ""))
        self.generic_visit(node)


def scan(path: Path) -> list[tuple[int, str]]:
    source = path.read_text(encoding="utf-8")
    scanner = _Scanner(source)
    scanner.visit(ast.parse(source, filename=str(path)))
    return scanner.hits


def test_no_sql_is_built_from_strings_anywhere_in_the_package() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = str(path.relative_to(PACKAGE))
        found += [f"{relative}:{line}: {code}" for line, code in scan(path) if (relative, code) not in ALLOWED]
    assert not found, "SQL built from strings (bind parameters, or use the ORM):\n" + "\n".join(found)


def test_the_scanner_catches_each_way_of_building_sql(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from sqlalchemy import text\n"
        "def f(conn, name, table):\n"
        "    conn.execute(text(f\"SELECT * FROM contacts WHERE email = '{name}'\"))\n"
        "    conn.execute(text('SELECT * FROM %s' % table))\n"
        "    conn.exec_driver_sql('DELETE FROM ' + table)\n"
        "    conn.execute(text('SELECT {}'.format(name)))\n"
        "    query = f'SELECT {name}'\n"
        "    conn.execute(text(query))\n"
        "    conn.execute(text('SELECT 1 WHERE email = :e'), {'e': name})\n"       # bound: fine
        "    conn.execute(text('SELECT 1'))\n")
    assert [line for line, _ in scan(bad)] == [3, 4, 5, 6, 8]
