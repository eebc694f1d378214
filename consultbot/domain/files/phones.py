"""Phone numbers: parsed, validated and turned into `tel:` links with `phonenumbers`.

Numbers are read with Sweden as the default region ("070-174 06 21", "023-49 00 00"); numbers
from abroad written with + or 00 keep their country. A number is shown as it was written and
dialled through its E.164 form (`tel:+46701740621`).

Reading a number costs tens of microseconds, and a national roster repeats a few thousand
numbers over 1.8 million rows: `_parse` and the verdicts on it are memoised per distinct text
(the functions are pure), so every check on a number, in every reader, is paid once per number.
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

DEFAULT_REGION = "SE"
# Distinct numbers remembered; a national roster has about 12,000.
MEMO_SIZE = 65536


@lru_cache(maxsize=MEMO_SIZE)
def _parse(text: str) -> phonenumbers.PhoneNumber | None:
    # Memoised: the object is shared between callers, who must never change it.
    written = text.strip()
    if not written:
        return None
    if written.startswith("00"):
        written = "+" + written[2:]
    try:
        return phonenumbers.parse(written, DEFAULT_REGION, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        return None


def _short(number: phonenumbers.PhoneNumber) -> bool:
    """A Swedish short number such as 112 or 1177 (written without a country code)."""
    return (
        number.country_code_source == phonenumbers.CountryCodeSource.FROM_DEFAULT_COUNTRY
        and phonenumbers.is_valid_short_number_for_region(number, DEFAULT_REGION)
    )


@lru_cache(maxsize=MEMO_SIZE)
def dialable(text: str) -> bool:
    """True when `text` is a phone number that can be dialled (a valid or short number)."""
    number = _parse(text)
    return number is not None and (phonenumbers.is_valid_number(number) or _short(number))


def is_short(text: str) -> bool:
    number = _parse(text)
    return number is not None and _short(number)


@lru_cache(maxsize=MEMO_SIZE)
def e164(text: str) -> str:
    """The number in E.164 (`+46701740621`), or "" when it cannot be read as one."""
    number = _parse(text)
    if number is None or not phonenumbers.is_possible_number(number) or _short(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def tel_uri(text: str) -> str:
    """A `tel:` URI for `text`: E.164 when it reads as a number, else the digits as written."""
    international = e164(text)
    if international:
        return f"tel:{international}"
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    return f"tel:{digits}"
