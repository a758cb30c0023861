"""The README's tour runs as written, and its top shows the two set-up commands."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_opens_with_demo_and_test():
    head = "\n".join(README.read_text().splitlines()[:8])
    assert "make demo" in head and "make test" in head


def test_readme_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python tour"
    exec(compile(blocks[0], "README.md", "exec"), {})
