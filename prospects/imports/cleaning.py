"""One CSV row, cleaned: mapped columns to prospect fields, validated against the field limits, normalised, and
laid out as a staging tuple (see STAGE_COLUMNS) for the engine's COPY. A row that cannot be imported raises
RowError with the reason shown to the user.

Cells are cleaned of NULs and lone surrogates (leadgen.text, as every other entry point), and the limits and
parsing of `prospects.fields` apply (custom fields, tags, company values, time zone, do-not-contact), so a row is
refused here for the same reasons `prospect_upsert` refuses the same data.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError

from leadgen.text import has_bad_text, text_clean
from prospects import normalize
from prospects.fields import (
    COMPANY_FIELDS,
    CUSTOM_KEY_LIMIT,
    CUSTOM_KEYS_MAX,
    CUSTOM_VALUE_LIMIT,
    FIELD_LIMITS,
    FULL_NAME,
    company_values_as_custom,
    company_values_clean,
    names_from_full,
    tags_check,
)
from prospects.imports.formats import CUSTOM_PREFIX, FIELD_TARGETS, IGNORE

RAW_CELL_LIMIT = 500
RAW_CELLS_LIMIT = 60
TAG_SEPARATOR = "\x1f"

# Order of the staging table's columns, as produced by RowCleaner.clean().
STAGE_COLUMNS = (
    "line",
    "email",
    "email_normalized",
    "email_domain",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "department",
    "phone",
    "linkedin_url",
    "linkedin_normalized",
    "location",
    "timezone",
    "company_name",
    "company_domain",
    "tags",
    "custom_fields",
    "do_not_contact",
    *COMPANY_FIELDS,
)
COLUMN = {name: i for i, name in enumerate(STAGE_COLUMNS)}
# Several columns may feed these; all others take the first non-empty mapped column.
JOINED_TARGETS = {
    "location": ", ",
    "tags": ",",
    "company_location": ", ",
    "company_technologies": ", ",
    "company_keywords": ", ",
}


class RowError(ValueError):
    pass


_SIMPLE_EMAIL = re.compile(
    r"[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"
)
_SIMPLE_WEBSITE = re.compile(r"(?:https?://)?(?:www\.)?((?:[a-z0-9-]+\.)+[a-z0-9-]+)\.?(?:[/?#][^@]*)?")


def _email(value: str) -> str | None:
    """normalize.email with a fast path for the plain addresses that make up nearly every file."""
    lowered = value.lower()
    if len(lowered) <= 254 and _SIMPLE_EMAIL.fullmatch(lowered):
        return lowered
    return normalize.email(value)


def _domain(value: str) -> str | None:
    """normalize.domain with a fast path for plain 'https://www.acme.com/' style values."""
    match = _SIMPLE_WEBSITE.fullmatch(value.lower())
    return match.group(1) if match else normalize.domain(value)


_SIMPLE_LINKEDIN = re.compile(r"https?://(?:www\.)?linkedin\.com/(in|company)/([a-z0-9_-]+)/?")


def linkedin(url: str) -> str | None:
    """A stripped LinkedIn URL cell as normalize.linkedin gives it, once normalize.web_href accepts it; with a fast
    path for the plain 'https://www.linkedin.com/in/ada-l' that make up nearly every file."""
    match = _SIMPLE_LINKEDIN.fullmatch(url.lower())
    if match:
        return f"linkedin.com/{match.group(1)}/{match.group(2)}"
    if not normalize.web_href(url):
        raise RowError(f"LinkedIn URL {normalize.WEB_URL_ERROR}")
    return normalize.linkedin(url)


def normalized_email(email: str) -> str | None:
    if not email:
        return None
    try:
        return _email(email)
    except ValidationError:
        raise RowError(f"invalid email {email[:80]!r}") from None


def company_domain(website: str, email_domain: str | None) -> str | None:
    """The company's domain from its website column, else from a work (not free-mail) email address."""
    domain = _domain(website) if website else None
    if not domain and email_domain and email_domain not in normalize.FREE_MAIL_DOMAINS:
        domain = email_domain
    if domain and len(domain) > FIELD_LIMITS["company_domain"]:
        raise RowError("Company domain is too long")
    return domain


_NO_COMPANY = (None,) * len(COMPANY_FIELDS)


def _too_long(target: str, value: str, limit: int) -> RowError:
    return RowError(f"{FIELD_TARGETS[target]} is {len(value):,} characters long (limit {limit:,})")


class RowCleaner:
    """Turns a row of cells into a staging tuple of str/None (see STAGE_COLUMNS), or raises RowError.

    This runs once per row of million-row files, so the mapping is compiled into a flat plan up front.
    """

    def __init__(self, headers: list[str], mapping: dict[str, str], tags: Iterable[str] = ()) -> None:
        self.headers = headers
        self.width = len(headers)
        columns: dict[str, list[int]] = {}
        self.custom: list[tuple[str, int]] = []
        for index, header in enumerate(headers):
            target = mapping.get(header, IGNORE)
            if target in FIELD_TARGETS:
                columns.setdefault(target, []).append(index)
            elif target.startswith(CUSTOM_PREFIX):
                self.custom.append((target[len(CUSTOM_PREFIX) :][:CUSTOM_KEY_LIMIT], index))
        # A field fed by one column takes its cell; one fed by several joins them or takes the first non-empty.
        self.singles = [
            (target, indexes[0], FIELD_LIMITS.get(target, sys.maxsize))
            for target, indexes in columns.items()
            if len(indexes) == 1
        ]
        self.several = [
            (target, tuple(indexes), JOINED_TARGETS.get(target), FIELD_LIMITS.get(target, sys.maxsize))
            for target, indexes in columns.items()
            if len(indexes) > 1
        ]
        self.blank = dict.fromkeys(FIELD_TARGETS, "")
        self.extra_tags = normalize.tags(list(tags))
        # Only what the mapping feeds is looked at per row.
        self.company_targets = [name for name in COMPANY_FIELDS if name in columns]
        self.full_name = FULL_NAME in columns

    def clean(self, cells: list[str]) -> tuple[str | None, ...]:
        if len(cells) != self.width:
            raise RowError(f"has {len(cells)} columns, the header has {self.width}")
        if has_bad_text("".join(cells)):
            cells = [text_clean(cell) for cell in cells]
        v = self.mapped_values(cells)
        email_normalized = normalized_email(v["email"])
        if self.full_name:
            self.split_name(v)
        linkedin_normalized = linkedin(v["linkedin_url"]) if v["linkedin_url"] else None
        if not (email_normalized or linkedin_normalized or v["first_name"] or v["last_name"]):
            raise RowError("no email, LinkedIn URL or name to identify the person")
        email_domain = email_normalized.rsplit("@", 1)[1] if email_normalized else None
        domain = company_domain(v["company_domain"], email_domain)
        company = self.company_values(v)
        custom = self.custom_values(cells)
        if company and not domain:
            # No company to hold them (no website, no work email): kept on the person, as prospect_upsert does.
            custom = {**company_values_as_custom(company), **custom}
            company = {}
        if len(custom) > CUSTOM_KEYS_MAX:
            raise RowError(f"has {len(custom)} custom fields (at most {CUSTOM_KEYS_MAX})")
        return (
            "0",
            v["email"],
            email_normalized,
            email_domain,
            v["first_name"],
            v["last_name"],
            v["title"],
            v["seniority"],
            v["department"],
            v["phone"],
            v["linkedin_url"],
            linkedin_normalized,
            v["location"],
            self.timezone(v["timezone"]) if v["timezone"] else "",
            v["company_name"],
            domain,
            self.joined_tags(v["tags"]) if v["tags"] or self.extra_tags else "",
            json.dumps(custom, ensure_ascii=False) if custom else None,
            self.do_not_contact(v["do_not_contact"]) if v["do_not_contact"] else None,
            *(self.company_cells(company) if company else _NO_COMPANY),
        )

    @staticmethod
    def timezone(value: str) -> str:
        try:
            return normalize.timezone_name(value)
        except ValidationError as exc:
            raise RowError(f"{FIELD_TARGETS['timezone']}: {' '.join(exc.messages)}") from None

    @staticmethod
    def do_not_contact(value: str) -> str | None:
        """'t' when the row says so; otherwise NULL: an import raises the flag, never clears it."""
        try:
            return "t" if normalize.flag(value) else None
        except ValidationError as exc:
            raise RowError(f"Do not contact: {' '.join(exc.messages)}") from None

    def company_values(self, v: dict[str, str]) -> dict[str, Any]:
        """The row's non-blank company values by Company column (prospects.fields.company_values_clean)."""
        given = {name: v[name] for name in self.company_targets if v[name]}
        if not given:
            return {}
        try:
            values = company_values_clean(given)
        except ValidationError as exc:
            reasons = [f"{FIELD_TARGETS[name]}: {' '.join(m)}" for name, m in exc.message_dict.items()]
            raise RowError("; ".join(reasons)) from None
        return {column: value for column, value in values.items() if value not in ("", None, [])}

    @staticmethod
    def company_cells(values: dict[str, Any]) -> list[str | None]:
        """The company values in staging form: text, numbers and lists (TAG_SEPARATOR between items), else NULL."""
        cells: list[str | None] = []
        for column in COMPANY_FIELDS.values():
            value = values.get(column)
            if isinstance(value, list):
                cells.append(TAG_SEPARATOR.join(item.replace(TAG_SEPARATOR, " ") for item in value) or None)
            elif isinstance(value, int):
                cells.append(str(value))
            else:
                cells.append(value or None)
        return cells

    def mapped_values(self, cells: list[str]) -> dict[str, str]:
        """Each field target's value from its column(s), within the field's length limit."""
        v = self.blank.copy()
        for target, index, limit in self.singles:
            value = cells[index].strip()
            if len(value) > limit:
                raise _too_long(target, value, limit)
            v[target] = value
        for target, indexes, joiner, limit in self.several:
            if joiner:
                value = joiner.join([x for x in (cells[i].strip() for i in indexes) if x])
            else:
                value = next((x for x in (cells[i].strip() for i in indexes) if x), "")
            if len(value) > limit:
                raise _too_long(target, value, limit)
            v[target] = value
        return v

    @staticmethod
    def split_name(v: dict[str, str]) -> None:
        """A full-name column fills first and last name when neither has a value (prospects.fields' rule)."""
        first, last = names_from_full(
            first_name=v["first_name"], last_name=v["last_name"], full_name=v[FULL_NAME]
        )
        if (first, last) == (v["first_name"], v["last_name"]):
            return
        for target, value in (("first_name", first), ("last_name", last)):
            if len(value) > FIELD_LIMITS[target]:
                raise RowError(f"{FIELD_TARGETS[target]} is {len(value):,} characters long")
        v["first_name"], v["last_name"] = first, last

    def joined_tags(self, value: str) -> str:
        """The row's tags and the import's tags, in COPY's array form (TAG_SEPARATOR between them)."""
        tags = normalize.tags(value) if value else []
        if self.extra_tags:
            tags = list(dict.fromkeys([*tags, *self.extra_tags]))
        try:
            tags_check(tags)
        except ValidationError as exc:
            raise RowError(" ".join(exc.messages)) from None
        return TAG_SEPARATOR.join(t.replace(TAG_SEPARATOR, " ") for t in tags) if tags else ""

    def custom_values(self, cells: list[str]) -> dict[str, str]:
        """The non-empty custom columns, by custom field name."""
        if not self.custom:
            return {}
        found = {}
        for key, index in self.custom:
            value = cells[index].strip()
            if value:
                if len(value) > CUSTOM_VALUE_LIMIT:
                    raise RowError(
                        f"column “{key}” is {len(value):,} characters long (limit {CUSTOM_VALUE_LIMIT:,})"
                    )
                found[key] = value
        return found


_EMAIL_NORMALIZED, _LINKEDIN_NORMALIZED, _FIRST_NAME, _LAST_NAME, _COMPANY_NAME = (
    COLUMN[name]
    for name in ("email_normalized", "linkedin_normalized", "first_name", "last_name", "company_name")
)


def person_key(row: tuple[Any, ...]) -> str:
    """Rows of one file with the same key are one person: email, else LinkedIn URL, else name at company."""
    if row[_EMAIL_NORMALIZED]:
        return "e\x1e" + row[_EMAIL_NORMALIZED]
    if row[_LINKEDIN_NORMALIZED]:
        return "l\x1e" + row[_LINKEDIN_NORMALIZED]
    return f"n\x1e{row[_FIRST_NAME]}\x1e{row[_LAST_NAME]}\x1e{row[_COMPANY_NAME].lower()}"


def merge_rows(earlier: tuple[Any, ...], later: tuple[Any, ...]) -> tuple[Any, ...]:
    """The later row wins; the earlier one only fills what the later one leaves blank."""
    merged = [new if new not in ("", None) else old for old, new in zip(earlier, later, strict=True)]
    tags_i, custom_i = COLUMN["tags"], COLUMN["custom_fields"]
    if earlier[tags_i] and later[tags_i]:
        tags = dict.fromkeys([*earlier[tags_i].split(TAG_SEPARATOR), *later[tags_i].split(TAG_SEPARATOR)])
        merged[tags_i] = TAG_SEPARATOR.join(tags)
    if earlier[custom_i] and later[custom_i]:
        merged[custom_i] = json.dumps({**json.loads(earlier[custom_i]), **json.loads(later[custom_i])})
    return tuple(merged)


def raw_cells(cells: list[str] | None) -> str:
    """What an error row keeps of the original: bounded, so a 5 MB cell is not stored again."""
    if cells is None:
        return "[]"
    return json.dumps([c[:RAW_CELL_LIMIT] for c in cells[:RAW_CELLS_LIMIT]], ensure_ascii=False)
