"""Which data set an uploaded file is: by name, and for CSV by its header."""

from __future__ import annotations

import codecs

import pytest

from consultbot.domain.files.uploads import detect_dataset, known_file_name
from consultbot.domain.types import Dataset


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("services.toml", b"[[service]]\n", Dataset.CATALOGUE),
        ("jour.ics", b"BEGIN:VCALENDAR\r\n", Dataset.ROSTER),
        ("export", b"BEGIN:VCALENDAR\r\n", Dataset.ROSTER),
        ("schema.csv", "tjänst;nivå;start;slut;matrix_id;namn\n".encode(), Dataset.ROSTER),
        ("schema.csv", "Tjänst,Nivå,Start,Slut,Matrix-ID\n".encode("cp1252"), Dataset.ROSTER),
        (
            "schema.csv",
            codecs.BOM_UTF16_LE + "service\tlevel\tstart\tend\tmatrix_id\n".encode("utf-16-le"),
            Dataset.ROSTER,
        ),
        ("personal.csv", b"matrix_id,name,unit,title,phone\n", Dataset.STAFF),
        ("kontakter.csv", b"enhet;namn;telefon;kommun\n", Dataset.DIRECTORY),
        ("kontakter.txt", b"\n\nunit,name,phone\n", Dataset.DIRECTORY),
        ("anteckning.csv", b"hej;hopp\n", None),
        ("tom.csv", b"", None),
        ("binar.csv", b"\x00\x01\x02", None),
        ("fel.xlsx", b"not a workbook", None),
        ("bild.png", b"\x89PNG", None),
    ],
)
def test_the_data_set_of_a_file(name: str, data: bytes, expected: Dataset | None) -> None:
    assert detect_dataset(name, data) is expected


def test_names_that_cannot_be_data_sets_are_known_before_downloading() -> None:
    assert known_file_name("schema.CSV") and known_file_name("jour.ics") and known_file_name("x")
    assert not known_file_name("remiss.pdf") and not known_file_name("bild.jpeg")
