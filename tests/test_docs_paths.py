"""docs/architecture.md and the README's layout name only files that exist: the map stays true."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "consultbot"
# A module named by its path inside the package, with or without `consultbot/` in front.
NAMED = re.compile(
    r"(?<![\w/.])(?:consultbot/)?((?:domain|engine|adapters|text|cli|devkit|ports)/[\w/]*\.py)"
)


def missing(doc: str) -> list[str]:
    text = (ROOT / doc).read_text(encoding="utf-8")
    return sorted({m[1] for m in NAMED.finditer(text) if not (PACKAGE / m[1]).is_file()})


def test_the_architecture_names_only_modules_that_exist() -> None:
    assert missing("docs/architecture.md") == []


def test_the_readme_names_only_modules_that_exist() -> None:
    assert missing("README.md") == []


def test_a_module_that_is_gone_is_found() -> None:
    assert NAMED.search("see `domain/escalation.py`")
    assert not (PACKAGE / "domain/escalation.py").is_file()  # moved to domain/consult/
