"""The columns of each table-shaped data file (CSV or XLSX) and the spellings accepted in its
header: the readers (duty/roster.py, duty/people.py) read rows by them, and uploads.py tells a
sent file's data set by them."""

from __future__ import annotations

from consultbot.domain.files.tables import Columns

ROSTER_COLUMNS = Columns(
    required={
        "service": ("tjänst", "tjanst"),
        "level": ("nivå", "niva"),
        "start": (),
        "end": ("slut",),
        "matrix_id": ("matrix-id", "matrix id"),
        "name": ("namn",),
    },
    optional={"phone": ("telefon", "tel")},
)
STAFF_COLUMNS = Columns(
    required={"matrix_id": ("matrix-id", "matrix id"), "name": ("namn",), "unit": ("enhet",)},
    optional={"title": ("titel",), "phone": ("telefon", "tel")},
)
DIRECTORY_COLUMNS = Columns(
    required={"unit": ("enhet",), "name": ("namn",), "phone": ("telefon", "tel")},
    optional={"municipality": ("kommun",), "notes": ("anteckningar", "anteckning", "kommentar")},
)
