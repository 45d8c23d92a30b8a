"""Dates people write in mail ("back on 12 January", "zurück am 15.01.", "de retour le 3 mars", "I will return Monday
5th", "try me in March"), in English, German, French, Spanish, Italian, Dutch, Portuguese and Swedish.

A date is resolved relative to when the mail arrived and is never in the past: "12 January" read in December is
next year's, a weekday is its next occurrence, a date with a year that has gone is dropped. Used by the auto-reply
classifier (return dates) and the reply-intent rules ("not now, try me in March").
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from dataclasses import dataclass

_MONTHS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "januar", "janner", "janvier", "janv", "enero", "gennaio", "januari", "janeiro"),
    2: ("february", "feb", "februar", "fevrier", "fevr", "febrero", "febbraio", "februari", "fevereiro"),
    3: ("march", "mar", "marz", "maerz", "mars", "marzo", "maart", "marco"),
    4: ("april", "apr", "avril", "avr", "abril", "aprile"),
    5: ("may", "mai", "mayo", "maggio", "mei", "maio", "maj"),
    6: ("june", "jun", "juni", "juin", "junio", "giugno", "junho"),
    7: ("july", "jul", "juli", "juillet", "juil", "julio", "luglio", "julho"),
    8: ("august", "aug", "aout", "agosto", "augustus", "augusti"),
    9: ("september", "sept", "sep", "septembre", "septiembre", "setiembre", "settembre", "setembro"),
    10: ("october", "oct", "oktober", "okt", "octobre", "octubre", "ottobre", "outubro"),
    11: ("november", "nov", "novembre", "noviembre", "novembro"),
    12: ("december", "dec", "dezember", "dez", "decembre", "diciembre", "dicembre", "dezembro"),
}
_WEEKDAYS: dict[int, tuple[str, ...]] = {
    0: ("monday", "montag", "lundi", "lunes", "lunedi", "maandag", "segunda-feira", "segunda", "mandag"),
    1: ("tuesday", "dienstag", "mardi", "martes", "martedi", "dinsdag", "terca-feira", "terca", "tisdag"),
    2: ("wednesday", "mittwoch", "mercredi", "miercoles", "mercoledi", "woensdag", "quarta-feira", "onsdag"),
    3: ("thursday", "donnerstag", "jeudi", "jueves", "giovedi", "donderdag", "quinta-feira", "torsdag"),
    4: ("friday", "freitag", "vendredi", "viernes", "venerdi", "vrijdag", "sexta-feira", "fredag"),
    5: ("saturday", "samstag", "sonnabend", "samedi", "sabado", "sabato", "zaterdag", "lordag"),
    6: ("sunday", "sonntag", "dimanche", "domingo", "domenica", "zondag", "sondag"),
}
MONTH_NUMBER = {name: number for number, names in _MONTHS.items() for name in names}
WEEKDAY_NUMBER = {name: number for number, names in _WEEKDAYS.items() for name in names}
# Full month names only, for a month on its own ("in March"): abbreviations and "may" are ordinary words too.
_FULL_MONTHS = sorted(
    (n for n in MONTH_NUMBER if len(n) > 3 and n not in {"sept", "janv", "fevr", "juil"}), key=len
)


def _alternation(names: object) -> str:
    return "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))  # type: ignore[call-overload]


_MONTH = rf"(?:{_alternation(MONTH_NUMBER)})"
_WEEKDAY = rf"(?:{_alternation(WEEKDAY_NUMBER)})"
_ORDINAL = r"(?:st|nd|rd|th|er|eme|e|o|º|°)?\.?"
_DATE_PATTERN = re.compile(
    rf"""
    \b(?P<iy>\d{{4}})-(?P<im>\d{{1,2}})-(?P<id>\d{{1,2}})\b
    | \b(?:(?P<dw>{_WEEKDAY})\.?,?\s+(?:the\s+|den\s+|le\s+|el\s+|il\s+)?)?
      (?P<dd>\d{{1,2}}){_ORDINAL}\s*(?:of\s+|de\s+|di\s+)?(?P<dm>{_MONTH})\b\.?(?:,?\s+(?:de\s+)?(?P<dy>\d{{4}}))?
    | \b(?:(?P<mw>{_WEEKDAY}),?\s+)?(?P<mm>{_MONTH})\b\.?\s+(?:the\s+)?(?P<md>\d{{1,2}})(?:st|nd|rd|th)?\b
      (?:,?\s+(?P<my>\d{{4}}))?
    | \b(?P<nd>\d{{1,2}})(?P<sep>[./])(?P<nm>\d{{1,2}})(?:(?P=sep)(?P<ny>\d{{4}}|\d{{2}}(?!\d)))?(?![\d:])
    | \b(?P<ww>{_WEEKDAY})\.?,?\s+(?:the\s+|den\s+|le\s+|el\s+|il\s+)?(?P<wd>\d{{1,2}})(?:st|nd|rd|th|er|e|\.)?(?!\d)
    | \b(?P<w>{_WEEKDAY})\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
# "in March", "im März", "en mars", "a marzo", "em março", "i mars", "after the summer" is not a date.
_MONTH_ALONE = re.compile(
    rf"\b(?:in|im|en|a|em|i|ab|from|after|until|nach|apres|des|desde|da|dal|vanaf|na|fran|efter|to|till|bis|"
    rf"in\s+early|early|mid|end\s+of|anfang|mitte|ende|debut|fin|principios\s+de|inicio\s+de|begin|eind)\s+"
    rf"(?P<month>{_alternation(_FULL_MONTHS)})\b(?:\s+(?P<year>\d{{4}}))?",
    re.IGNORECASE,
)


def fold(text: str) -> str:
    """Lower case without accents, so "März", "août" and "miércoles" match their plain spellings."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


@dataclass(frozen=True)
class FoundDate:
    date: datetime.date
    start: int
    end: int
    text: str
    weekday_only: bool = False


def _safe_date(year: int, month: int, day: int) -> datetime.date | None:
    try:
        return datetime.date(year, month, day)
    except ValueError:
        return None


def _day_month(day: int, month: int, year: int | None, today: datetime.date) -> datetime.date | None:
    """A day and month, this year's or next year's whichever is not past; with a year, None when it is past."""
    if year is not None:
        if year < 100:
            year += 2000
        found = _safe_date(year, month, day)
        return found if found is not None and found >= today else None
    found = _safe_date(today.year, month, day)
    if found is not None and found >= today:
        return found
    return _safe_date(today.year + 1, month, day)


def _weekday_day(weekday: int, day: int, today: datetime.date) -> datetime.date | None:
    """ "Monday 5th": the next 5th if it is a Monday, or the one after; else simply the next 5th (the writer
    means a day soon, and may have the weekday wrong)."""
    candidates = []
    for offset in range(3):
        month_index = today.month - 1 + offset
        found = _safe_date(today.year + month_index // 12, month_index % 12 + 1, day)
        if found is not None and found >= today:
            candidates.append(found)
    for found in candidates:
        if found.weekday() == weekday:
            return found
    return candidates[0] if candidates else None


def _next_weekday(weekday: int, today: datetime.date) -> datetime.date:
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + datetime.timedelta(days=ahead)


def _resolve(match: re.Match[str], today: datetime.date) -> tuple[datetime.date | None, bool]:
    groups = {key: value for key, value in match.groupdict().items() if value}
    if "iy" in groups:
        return _day_month(int(groups["id"]), int(groups["im"]), int(groups["iy"]), today), False
    if "dd" in groups:
        year = int(groups["dy"]) if "dy" in groups else None
        return _day_month(int(groups["dd"]), MONTH_NUMBER[fold(groups["dm"])], year, today), False
    if "mm" in groups:
        year = int(groups["my"]) if "my" in groups else None
        return _day_month(int(groups["md"]), MONTH_NUMBER[fold(groups["mm"])], year, today), False
    if "nd" in groups:
        day, month = int(groups["nd"]), int(groups["nm"])
        if groups["sep"] == "/" and month > 12 >= day:  # 1/25: month first, as Americans write it
            day, month = month, day
        if not 1 <= month <= 12:
            return None, False
        year = int(groups["ny"]) if "ny" in groups else None
        return _day_month(day, month, year, today), False
    if "ww" in groups:
        return _weekday_day(WEEKDAY_NUMBER[fold(groups["ww"])], int(groups["wd"]), today), False
    return _next_weekday(WEEKDAY_NUMBER[fold(groups["w"])], today), True


def dates_in(text: str, *, today: datetime.date) -> list[FoundDate]:
    """Every date the text names, in order, resolved relative to `today` (past ones left out)."""
    folded = fold(text)
    found = []
    for match in _DATE_PATTERN.finditer(folded):
        resolved, weekday_only = _resolve(match, today)
        if resolved is not None:
            found.append(
                FoundDate(resolved, match.start(), match.end(), match.group(0).strip(), weekday_only)
            )
    return found


def month_in(text: str, *, today: datetime.date) -> FoundDate | None:
    """A month named on its own ("try me in March"): its first day, this year's or next year's."""
    match = _MONTH_ALONE.search(fold(text))
    if match is None:
        return None
    month = MONTH_NUMBER[match.group("month")]
    year = int(match.group("year")) if match.group("year") else None
    if year is None:
        year = today.year if month > today.month else today.year + 1
    elif year < today.year or (year == today.year and month < today.month):
        return None
    first = datetime.date(year, month, 1)
    return FoundDate(max(first, today), match.start(), match.end(), match.group(0).strip())
