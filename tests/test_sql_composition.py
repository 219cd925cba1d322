"""SQL reaches the database only as fixed text with parameters, or composed with
``psycopg.sql`` (identifiers and literals quoted by psycopg): no SQL is built by f-strings,
``str.format``, ``%`` or concatenation anywhere in the product's code.

Grafana's dashboard and alert queries (``twin/grafana/``) are left out: Grafana runs them,
with its own macros and variables, never this code.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [ROOT / "ingest", ROOT / "twin", ROOT / "scripts"]
SKIPPED = [ROOT / "twin" / "grafana"]
SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|GRANT|REVOKE|COPY|TRUNCATE|CALL)\b"
)


def _sql_text(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(SQL.search(node.value))
    )


def _is_sql_call(node: ast.AST) -> bool:
    """``sql.SQL(...)`` / ``pgsql.SQL(...)`` / ``SQL(...)``: psycopg's composition."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "SQL") or (
        isinstance(func, ast.Name) and func.id == "SQL"
    )


def string_built_sql(source: str) -> list[tuple[int, str]]:
    """(line, how) of every piece of SQL text built by formatting in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.JoinedStr) and any(_sql_text(v) for v in node.values):
            found.append((node.lineno, "f-string"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and _sql_text(node.func.value)
        ):
            found.append((node.lineno, "str.format"))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and _sql_text(node.left):
            found.append((node.lineno, "% formatting"))
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Add)
            and (_sql_text(node.left) or _sql_text(node.right))
            and not (isinstance(node.left, ast.Constant) and isinstance(node.right, ast.Constant))
        ):
            found.append((node.lineno, "concatenation"))
    return found


def test_the_scanner_finds_each_way_of_formatting_sql():
    bad = (
        'q = f"SELECT * FROM {table}"\n'
        'q = "DELETE FROM t WHERE id = {}".format(x)\n'
        'q = "UPDATE t SET a = %s" % value\n'
        'q = "INSERT INTO t VALUES (" + values + ")"\n'
    )
    assert [how for _, how in string_built_sql(bad)] == [
        "f-string",
        "str.format",
        "% formatting",
        "concatenation",
    ]
    good = (
        'cur.execute("SELECT * FROM t WHERE id = %s", (x,))\n'
        'cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(name)))\n'
        'q = ("SELECT a " "FROM t")\n'
        'log.info(f"stored {n} rows")\n'
    )
    assert string_built_sql(good) == []


def test_no_sql_is_built_by_string_formatting():
    offenders = []
    for folder in SCANNED:
        for path in sorted(folder.rglob("*.py")):
            if any(path.is_relative_to(skip) for skip in SKIPPED):
                continue
            for line, how in string_built_sql(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: SQL built by {how}")
    assert offenders == [], "\n".join(offenders)
