"""The two processes' entry points sit on top of the layers (DESIGN.md): app.py and worker.py
wire the packages together and start processes, and no package imports them back, which
would pull the whole system and its start-up into a layer. import-linter only takes packages,
so this is checked here, on the source, for every module of the layered packages."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

LAYERS = ("channels", "web", "reports", "inbox", "routing", "settings")
ENTRY_POINTS = {"app", "worker"}


def imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_check_sees_an_import_of_an_entry_point():
    assert imported_roots(ast.parse("from app import create_app\nimport worker.x")) \
        >= ENTRY_POINTS
    assert imported_roots(ast.parse("from .app import x\nimport application")) \
        == {"application"}


@pytest.mark.parametrize("package", LAYERS)
def test_no_layer_imports_an_entry_point(package):
    modules = sorted((ROOT / package).rglob("*.py"))
    assert modules
    offenders = [str(path.relative_to(ROOT)) for path in modules
                 if imported_roots(ast.parse(path.read_text("utf-8"))) & ENTRY_POINTS]
    assert offenders == []
