"""The size rules of issue 14's "done when", checked on the source so they stay true.

- No module in src/digest is over 300 lines (physical lines; the Alembic revisions in migrations/versions are
  exempt: they are written once and never edited).
- No function's body is over 40 lines outside src/digest/migrations. A body is the lines from the first statement
  after the docstring to the function's last line, minus blank lines and comment-only lines. A nested function
  counts inside its parent's body and is also checked on its own; methods and async functions count like functions.
- The command-line commands (functions in src/digest/cli decorated with a typer `<app>.command(...)`) are thin:
  the median body is at most 10 lines and none is over 25 (same body rule).

Each failure lists every offender as `path:line name (N lines)`, largest first.
"""

from __future__ import annotations

import ast
import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "digest"
MAX_MODULE_LINES = 300
MAX_BODY_LINES = 40
MAX_COMMAND_LINES = 25
MAX_COMMAND_MEDIAN = 10


@dataclass(frozen=True)
class Function:
    path: Path
    line: int
    name: str
    body: int  # lines, by the rule in the module docstring
    command: bool  # decorated with a typer `<app>.command(...)`

    def __str__(self) -> str:
        return f"{self.path.relative_to(SRC.parent)}:{self.line} {self.name} ({self.body} lines)"


def modules(*, exempt: str) -> list[Path]:
    """Every Python module under src/digest, less those under the `exempt` folder (relative to src/digest)."""
    return sorted(p for p in SRC.rglob("*.py") if not p.is_relative_to(SRC / exempt))


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """Non-blank, non-comment lines from the first statement after the docstring to the end of the function."""
    statements = node.body
    if statements and isinstance(statements[0], ast.Expr) and isinstance(statements[0].value, ast.Constant) \
            and isinstance(statements[0].value.value, str):
        statements = statements[1:]
    if not statements:
        return 0
    first = statements[0]
    start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
    return sum(1 for text in lines[start - 1:node.end_lineno] if text.strip() and not text.strip().startswith("#"))


def is_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Decorated with `<something>.command` or `<something>.command(...)`."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr == "command":
            return True
    return False


def functions(path: Path) -> list[Function]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    return [Function(path, node.lineno, node.name, body_lines(node, lines), is_command(node))
            for node in ast.walk(ast.parse(source, filename=str(path)))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def listing(found: list[Function]) -> str:
    return "\n  ".join(map(str, sorted(found, key=lambda f: (-f.body, str(f)))))


def test_the_rules_measure_what_they_say():
    source = '''
@app.command("x")
def command(a):
    """Docstring,
    two lines."""
    # a comment

    first = 1
    def inner():
        return 2
    return first  # trailing comment counts
def empty():
    """Only a docstring."""
'''
    tree = ast.parse(source)
    outer, empty, inner = (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
    lines = source.splitlines()
    assert [body_lines(outer, lines), body_lines(inner, lines), body_lines(empty, lines)] == [4, 1, 0]
    assert is_command(outer) and not is_command(inner) and not is_command(empty)


def test_no_module_is_over_300_lines():
    long = {p: n for p in modules(exempt="migrations/versions")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    if long:
        pytest.fail(f"modules over {MAX_MODULE_LINES} lines:\n  " + "\n  ".join(
        f"{p.relative_to(SRC.parent)} ({n} lines)" for p, n in sorted(long.items(), key=lambda item: -item[1])))


def test_no_function_body_is_over_40_lines_outside_migrations():
    long = [f for p in modules(exempt="migrations") for f in functions(p) if f.body > MAX_BODY_LINES]
    if long:
        pytest.fail(f"function bodies over {MAX_BODY_LINES} lines:\n  " + listing(long))


def test_cli_commands_are_thin():
    commands = [f for p in modules(exempt="migrations") if p.is_relative_to(SRC / "cli")
                for f in functions(p) if f.command]
    assert len(commands) > 10, "the decorator test found too few commands: has the CLI changed how it registers?"
    median = statistics.median(f.body for f in commands)
    long = [f for f in commands if f.body > MAX_COMMAND_LINES]
    if median > MAX_COMMAND_MEDIAN or long:
        pytest.fail(
            f"CLI command bodies: median {median} lines (at most {MAX_COMMAND_MEDIAN}); over {MAX_COMMAND_LINES} lines:"
            f"\n  " + (listing(long) or "none") + "\nall commands:\n  " + listing(commands))
