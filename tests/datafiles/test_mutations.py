"""Property: the example files, mutated as files get mangled on their way to the admin (bytes
flipped, lines dropped or doubled, cells edited, downloads cut off, saved in another encoding),
imported through the CLI against the active state, never give a traceback; a refused or held
file changes nothing; an accepted one is reported completely: every service whose shifts
changed is in the summary, every (service, level) that lost coverage is in the list of new
holes (also when the admin imports anyway), and a staff list, directory or catalogue's count
is what is now in force."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from tests.datafiles.corpus import FILES, Result, State

# A failing example's repr (a whole XLSX) is large; the warning would hide the failure.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

SEEDS = {
    "roster": (
        "roster/kardiologi-v48-export.csv",
        "roster/medicin-och-kardiologi-v48.csv",
        "roster/kardiologi-v48-excel-sv.csv",
        "roster/vc-mora-v49-recurring.ics",
        "roster/kardiologi-v48.xlsx",
    ),
    "staff": ("staff/personal-export.csv", "staff/personal.xlsx"),
    "directory": ("directory/kontakter-export.csv",),
    "catalogue": ("catalogue/tjanster-export.toml",),
}
# Text that turns up in cells: other formats, other counties, stray punctuation, control codes.
CELL_TEXT = st.sampled_from(
    [
        "",
        " ",
        '"',
        ";",
        ",",
        "\t",
        "\n",
        "\x00",
        "\ufeff",
        "0",
        "2",
        "10",
        "bakjour",
        "2030-11-31 08:00",
        "2031-03-30 02:30",
        "2030-10-27 02:30",
        "25/11/2030 08:00",
        "08:00",
        "24:00",
        "2030-11-26 24:00",
        "2062-11-26 08:00",
        "@kardiolog1:matrix.org",
        "@Kardiolog1:localhost",
        "kardiolog1",
        "hjärta",
        "kardiologi-akademiska",
        "701740621",
        "+46 70 174 06 21",
        '=HYPERLINK("x")',
        "Åsa Öberg",
        "Uppsala",
    ]
)


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with one to three mutations."""
    for _ in range(draw(st.integers(1, 3))):
        data = draw(_one_mutation(data))
    return data


def _one_mutation(data: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(_flip(data), _lines(data), _cell(data), _truncate(data), _reencode(data))


@st.composite
def _flip(draw: st.DrawFn, data: bytes) -> bytes:
    if not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]


@st.composite
def _lines(draw: st.DrawFn, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1))
    action = draw(st.sampled_from(["drop", "double", "swap", "blank"]))
    if action == "drop":
        del lines[i]
    elif action == "double":
        lines.insert(j, lines[i])
    elif action == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    else:
        lines[i:i] = [b""] * draw(st.integers(1, 4))
    return b"\n".join(lines)


@st.composite
def _cell(draw: st.DrawFn, data: bytes) -> bytes:
    """One cell of a text line replaced (cells split at , ; or tab), or a TOML value."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    lines = text.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    cells = re.split(r"([,;\t:=])", lines[i])
    j = draw(st.integers(0, len(cells) - 1))
    cells[j] = draw(st.one_of(CELL_TEXT, st.text(max_size=12)))
    lines[i] = "".join(cells)
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


@st.composite
def _truncate(draw: st.DrawFn, data: bytes) -> bytes:
    return data[: draw(st.integers(0, len(data)))]


@st.composite
def _reencode(draw: st.DrawFn, data: bytes) -> bytes:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data
    encoding = draw(st.sampled_from(["cp1252", "utf-16", "utf-16-le", "utf-8-sig", "mac_roman"]))
    return text.encode(encoding, errors="replace")


def _changed_services(before: State, after: State) -> set[str]:
    old, new = before.live_shifts(), after.live_shifts()
    return {s for s in old.keys() | new.keys() if old.get(s) != new.get(s)}


def _lost(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> bool:
    """True when some instant covered in `before` is not covered in `after` (both merged)."""
    for start, end in before:
        cursor = start
        for lo, hi in after:
            if hi <= cursor or lo >= end:
                continue
            if lo > cursor:
                return True
            cursor = max(cursor, hi)
        if cursor < end:
            return True
    return False


def _new_holes(active: State, state: State) -> set[tuple[str, int]]:
    """The (service, level)s that lost coverage: each must be in the import's hole list."""
    old, new = active.coverage(), state.coverage()
    return {key for key, spans in old.items() if _lost(spans, new.get(key, []))}


def _check(
    kind: str, active: State, name: str, data: bytes, *flags: str, holes: bool = False
) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        state = active.copy(Path(folder))
        before = state.digest()
        path = Path(folder) / Path(name).name
        path.write_bytes(data)
        result: Result = state.run(kind, "import", str(path), *flags)
        assert result.code in (0, 1), result.text
        assert "Traceback" not in result.text
        event("accepted" if result.code == 0 else "refused")
        if result.code != 0:
            assert state.digest() == before, result.text
            return result
        _report_is_complete(kind, active, state, result)
        if holes and "luckor till" not in result.out:
            listed = {
                (service, int(level))
                for service, level in re.findall(
                    r"^  (\S+) nivå (\d+): ingen i tjänst", result.out, re.MULTILINE
                )
            }
            assert _new_holes(active, state) <= listed, result.text
        return result


def _report_is_complete(kind: str, active: State, state: State, result: Result) -> None:
    if kind == "roster":
        reported = set(re.findall(r"^  (\S+): nya pass", result.out, re.MULTILINE))
        assert _changed_services(active, state) <= reported, result.text
    elif kind == "staff":
        people = re.search(r"^(\d+) (?:person|personer) på", result.out, re.MULTILINE)
        assert people is not None, result.text
        assert int(people.group(1)) == state.active_rows("staff")
    elif kind == "directory":
        entries = re.search(r"^(\d+) (?:post|poster)", result.out, re.MULTILINE)
        assert entries is not None, result.text
        assert int(entries.group(1)) == state.active_rows("directory_entry")
    else:
        services = re.search(r"^(\d+) (?:tjänst|tjänster) \(", result.out, re.MULTILINE)
        assert services is not None, result.text
        assert int(services.group(1)) == state.active_rows("service")


def _seeded(kind: str) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.sampled_from(SEEDS[kind]).flatmap(
        lambda name: mutated((FILES / name).read_bytes()).map(lambda data: (name, data))
    )


_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@_SETTINGS
@given(case=_seeded("roster"))
def test_a_mutated_roster_is_refused_cleanly_or_reported_completely(
    active: State, case: tuple[str, bytes]
) -> None:
    _check("roster", active, *case, holes=True)


@_SETTINGS
@given(case=_seeded("roster"))
def test_a_mutated_roster_imported_anyway_lists_every_hole_it_leaves(
    active: State, case: tuple[str, bytes]
) -> None:
    _check("roster", active, *case, "--allow-gaps", "--allow-shrink", holes=True)


@_SETTINGS
@given(case=_seeded("staff"))
def test_a_mutated_staff_list_is_refused_cleanly_or_counted_right(
    active: State, case: tuple[str, bytes]
) -> None:
    _check("staff", active, *case)


@_SETTINGS
@given(case=_seeded("directory"))
def test_a_mutated_directory_is_refused_cleanly_or_counted_right(
    active: State, case: tuple[str, bytes]
) -> None:
    _check("directory", active, *case)


@_SETTINGS
@given(case=_seeded("catalogue"))
def test_a_mutated_catalogue_is_refused_cleanly_or_counted_right(
    active: State, case: tuple[str, bytes]
) -> None:
    _check("catalogue", active, *case)
