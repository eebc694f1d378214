"""Phone numbers: read with Sweden as the default region, dialled in E.164, checked on import."""

from __future__ import annotations

import pytest

from consultbot.domain.duty.people import parse_directory, parse_staff
from consultbot.domain.duty.roster import check_roster
from consultbot.domain.errors import Severity
from consultbot.domain.files import phones
from tests.support.catalogue import CATALOGUE, TZ


@pytest.mark.parametrize(
    ("written", "uri"),
    [
        ("070-174 06 21", "tel:+46701740621"),
        ("023-49 00 00", "tel:+4623490000"),
        ("0250-49 30 00", "tel:+46250493000"),
        ("+46 70 174 06 21", "tel:+46701740621"),
        ("+47 22 00 00 00", "tel:+4722000000"),  # Oslo stays Norwegian
        ("0047 22 00 00 00", "tel:+4722000000"),
        ("1177", "tel:1177"),  # short numbers are dialled as they are
        ("112", "tel:112"),
    ],
)
def test_numbers_are_dialled_in_international_form(written: str, uri: str) -> None:
    assert phones.dialable(written)
    assert phones.tel_uri(written) == uri


@pytest.mark.parametrize("written", ["12", "070-12", "ring växeln", "+46 70 123"])
def test_a_number_that_cannot_be_dialled_is_not_dialable(written: str) -> None:
    assert not phones.dialable(written)


def test_a_roster_number_that_cannot_be_dialled_is_a_warning_with_its_line() -> None:
    data = (
        b"service,level,start,end,matrix_id,name,phone\n"
        b"kardiologi,1,2026-12-01 08:00,2026-12-01 17:00,@a:localhost,A,070-174 06 21\n"
        b"kardiologi,2,2026-12-01 08:00,2026-12-01 17:00,@b:localhost,B,070-17\n"
    )
    result = check_roster([("roster.csv", data)], CATALOGUE, TZ)
    assert result.ok  # a warning: the import goes through
    warned = [(p.file, p.line, p.code, p.severity) for p in result.problems]
    assert warned == [("roster.csv", 3, "undialable_phone", Severity.WARNING)]


def test_staff_and_directory_numbers_are_checked_too() -> None:
    staff = b"matrix_id,name,unit,phone\n@a:localhost,A,kardiologi,0701\n"
    members, problems = parse_staff(staff, "staff.csv", CATALOGUE)
    assert len(members) == 1
    assert [(p.line, p.code) for p in problems] == [(2, "undialable_phone")]
    directory = b"unit,name,phone\nAkuten,Triage,023-49 00 00\nLab,Jour,99\n"
    entries, problems = parse_directory(directory, "directory.csv")
    assert len(entries) == 2
    assert [(p.line, p.code) for p in problems] == [(3, "undialable_phone")]
