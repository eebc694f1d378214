"""Lines of Python per folder of consultbot/, in the work tree or at a git revision.

    python tools/count_lines.py              the work tree
    python tools/count_lines.py 267872a      the commit before issue 21

Each folder counts its own modules (not its sub-folders'); the last line is the total.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent


def files(revision: str) -> dict[str, str]:
    """Each consultbot/*.py path → its text, at `revision` ("" = the work tree)."""
    if not revision:
        return {
            p.relative_to(ROOT).as_posix(): p.read_text(encoding="utf-8")
            for p in (ROOT / "consultbot").rglob("*.py")
        }
    names = git("ls-tree", "-r", "--name-only", revision, "consultbot").split()
    return {n: git("show", f"{revision}:{n}") for n in names if n.endswith(".py")}


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def per_folder(texts: dict[str, str]) -> Counter[str]:
    """Folder → lines of its own modules."""
    counts: Counter[str] = Counter()
    for path, text in texts.items():
        counts[str(PurePosixPath(path).parent) + "/"] += len(text.splitlines())
    return counts


def main(argv: list[str]) -> int:
    counts = per_folder(files(argv[0] if argv else ""))
    for folder, lines in sorted(counts.items()):
        print(f"{lines:7} {folder}")
    print(f"{sum(counts.values()):7} total")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
