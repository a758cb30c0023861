"""The layout rules of DEVELOPERS.md hold, and docs/architecture.md lists every module."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "implicitbias"

# package -> packages it must not import (dependencies point downward).
FORBIDDEN = {
    "symmetry": {"dynamics", "design", "ff", "analysis", "experiments", "report", "cli"},
    "dynamics": {"design", "ff", "analysis", "experiments", "report", "cli"},
    "design": {"dynamics", "ff", "analysis", "experiments", "report", "cli"},
    "ff": {"symmetry", "dynamics", "design", "experiments", "report", "cli"},
    "analysis": {"symmetry", "dynamics", "design", "ff", "experiments", "report", "cli"},
    "data": {"symmetry", "dynamics", "design", "ff", "analysis", "experiments", "report", "cli"},
    "runs": {"symmetry", "dynamics", "design", "ff", "analysis", "experiments", "report", "cli"},
    "experiments": {"report", "cli"},
    "report": {"cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m.split(".")[1] for m in out if m.startswith("implicitbias.") and m.count(".") >= 1}


def test_dependencies_point_downward():
    bad = []
    for pkg, forbidden in FORBIDDEN.items():
        for f in (PKG / pkg).rglob("*.py"):
            hit = _imports(f) & forbidden
            if hit:
                bad.append(f"{f.relative_to(PKG)} imports {sorted(hit)}")
    assert not bad, "\n".join(bad)


def test_architecture_doc_lists_every_module():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    missing = [
        str(f.relative_to(PKG))
        for f in sorted(PKG.rglob("*.py"))
        if f.name not in ("__init__.py", "__main__.py") and "__pycache__" not in f.parts and str(f.relative_to(PKG)) not in doc
    ]
    assert not missing, f"docs/architecture.md does not mention: {missing}"
