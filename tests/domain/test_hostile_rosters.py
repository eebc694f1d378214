"""A roster that books one person many times at once: one problem per shift, not per pair."""

from __future__ import annotations

from consultbot.domain.duty.roster import check_roster
from tests.support.catalogue import CATALOGUE, TZ

HEADER = "service,level,start,end,matrix_id,name,phone\n"


def test_one_person_booked_many_times_at_once_gets_one_error_per_shift() -> None:
    row = "kardiologi,1,2027-01-01 08:00,2027-01-01 20:00,@anna:region.se,Anna,\n"
    result = check_roster([("r.csv", (HEADER + row * 300).encode())], CATALOGUE, TZ)
    overlaps = [p for p in result.errors if p.code == "overlap_same_service"]
    # Lines 3..301 each overlap an earlier one (line 2 first): 299 lines, not 44,850 pairs.
    assert [p.line for p in overlaps] == list(range(3, 302))
    assert all(p.params["other"] == "r.csv:2" for p in overlaps)


def test_an_overlap_with_another_service_is_a_warning_once() -> None:
    rows = (
        "kardiologi,1,2027-01-01 08:00,2027-01-01 20:00,@anna:region.se,Anna,\n"
        "kardiologi,1,2027-01-01 19:00,2027-01-02 07:00,@anna:region.se,Anna,\n"
    )
    other = "radiologi,1,2027-01-01 10:00,2027-01-01 12:00,@anna:region.se,Anna,\n"
    result = check_roster([("r.csv", (HEADER + rows + other).encode())], CATALOGUE, TZ)
    assert [(p.line, p.code) for p in result.errors] == [(3, "overlap_same_service")]
    assert [(p.line, p.code, p.params["other"]) for p in result.warnings] == [
        (4, "overlap_other_service", "r.csv:2")
    ]
