"""Every file that cites one of the lecture's equation numbers says which lecture it is."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"\b[Ee]qs?\. ?\d+")
FOLDERS = ("graphdl", "docs", "tutorials", "benchmarks", "examples", "scripts")


def test_equation_numbers_name_the_lecture():
    unnamed = []
    files = [ROOT / "README.md"] + [p for folder in FOLDERS for p in (ROOT / folder).rglob("*")
                                    if p.suffix in (".py", ".md")]
    for path in files:
        text = path.read_text(encoding="utf-8")
        match = CITATION.search(text)
        if match and "Lepetit" not in text:
            line = text.count("\n", 0, match.start()) + 1
            unnamed.append(f"{path.relative_to(ROOT)}:{line}: {match.group()}")
    assert not unnamed, "name the lecture (V. Lepetit, \"Optimization for Deep Learning\") in:\n" \
                        + "\n".join(unnamed)
