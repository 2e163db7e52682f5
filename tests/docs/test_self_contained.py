"""The repository stands alone (design D15): no file points to documents outside it."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Pointers to the design notes, references and fixtures that a clone does not have.
OUTSIDE = re.compile(r"\.\./shared|\bDESIGN\b|dagster-notes|reference/[\w-]+\.md|reference §")
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".toml", ".json", ".txt", ".cfg", ".example", ""}


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    paths = [ROOT / name for name in listed.split("\0") if name]
    return [p for p in paths if p.suffix in TEXT_SUFFIXES and p.is_file()]


def test_no_file_points_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    offenders = []
    for path in tracked_text_files():
        if path == this:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert offenders == []


def test_the_design_record_is_in_the_repository() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    for decision in range(1, 16):
        assert f"**D{decision} " in design
