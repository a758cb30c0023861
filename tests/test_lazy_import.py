"""``import implicitbias as ib`` is light, and every subpackage is reachable as an attribute."""

from __future__ import annotations

import subprocess
import sys

SUBPACKAGES = ("symmetry", "dynamics", "design", "ff", "analysis", "data", "viz", "experiments", "runs")


def _py(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_is_light_and_subpackages_are_lazy_attributes():
    code = (
        f"NAMES = {SUBPACKAGES!r}\n"
        "import sys, importlib, implicitbias as ib\n"
        "heavy = [m for m in ('torch', 'matplotlib', *(f'implicitbias.{n}' for n in NAMES)) if m in sys.modules]\n"
        "print(heavy or 'light')\n"
        "for name in NAMES:\n"
        "    mod = getattr(ib, name)\n"
        "    assert mod is importlib.import_module(f'implicitbias.{name}') and name in dir(ib), name\n"
        "    print(mod.__name__)\n"
        "try:\n    ib.nosuch\nexcept AttributeError:\n    print('AttributeError')\n"
    )
    lines = _py(code).splitlines()
    assert lines[0] == "light"
    assert lines[1:-1] == [f"implicitbias.{n}" for n in SUBPACKAGES]
    assert lines[-1] == "AttributeError"
