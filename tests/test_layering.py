"""Imports run one way: ``tools/`` (adapters, models, the sandbox) never imports ``bot/``."""

from __future__ import annotations

import ast
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"


def _imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_tools_never_imports_bot() -> None:
    upward = [
        f"{path.relative_to(TOOLS.parent)} imports {name}"
        for path in sorted(TOOLS.rglob("*.py"))
        for name in _imported_modules(path)
        if name == "bot" or name.startswith("bot.")
    ]
    assert upward == []
