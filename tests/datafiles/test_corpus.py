"""Every file of the corpus (tests/datafiles/files/, manifest.toml) imported through the CLI
against a realistic active state: read right, refused with this message and nothing changed,
or held for confirmation with this summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datafiles.corpus import FILES, State, manifest

ENTRIES = manifest()


def _param(entry: dict[str, object]) -> object:
    pending = str(entry.get("pending", ""))
    marks = [pytest.mark.xfail(strict=True, reason=pending)] if pending else []
    return pytest.param(entry, id=str(entry["name"]), marks=marks)


def test_the_corpus_is_large_and_covers_every_data_set_and_outcome() -> None:
    assert len(ENTRIES) >= 100
    assert {e["kind"] for e in ENTRIES} == {"roster", "catalogue", "staff", "directory"}
    assert {e["outcome"] for e in ENTRIES} == {"read", "refused", "held"}
    assert {p.relative_to(FILES).as_posix() for p in FILES.rglob("*") if p.is_file()} == {
        e["name"] for e in ENTRIES
    }


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(("fel:", "error:"))]


@pytest.mark.parametrize("entry", [_param(e) for e in ENTRIES])
def test_corpus_file(entry: dict[str, object], active: State, tmp_path: Path) -> None:
    state = active.copy(tmp_path)
    before = state.digest()
    path = str(FILES / str(entry["name"]))
    result = state.run(str(entry["kind"]), "import", path)
    text = result.text
    assert "Traceback" not in text
    for piece in entry["expect"]:  # type: ignore[attr-defined]
        assert piece.replace("{file}", path) in text, text
    for piece in entry.get("absent", []):  # type: ignore[attr-defined]
        assert piece.replace("{file}", path) not in text, text
    errors = _error_lines(result.err)
    if "max_errors" in entry:
        assert len(errors) <= int(entry["max_errors"]), text  # type: ignore[call-overload]
    outcome = entry["outcome"]
    if outcome == "read":
        assert result.code == 0, text
        assert not errors, text
        for service, at, name in entry.get("who", []):  # type: ignore[attr-defined]
            who = state.run("who", service, "--at", at)
            assert name in who.out, who.out
    elif outcome == "refused":
        assert result.code == 1, text
        assert errors, text
        assert state.digest() == before
    else:
        assert outcome == "held"
        assert result.code != 0, text
        assert state.digest() == before
        confirmed = state.run(str(entry["kind"]), "import", path, *entry["confirm"])  # type: ignore[misc]
        assert confirmed.code == 0, confirmed.out + confirmed.err
        assert state.digest() != before
