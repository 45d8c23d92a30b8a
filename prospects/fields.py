"""The prospect field vocabulary, shared by the API, forms, CSV import, merge and inbound webhooks.

- `TEXT_FIELDS`: the plain text fields a client may set; names match the generic CSV headers and the API.
- `FIELD_LIMITS`: their length limits, read from the model.
- Aliases: the spellings a CSV header, a web-form field name, a Meta `field_data` name or a Google column id may
  use for a field, compared by `alias_key` (lower-cased, letters and digits only). `ALIASES` are safe for every
  channel; `EXPORT_ALIASES` are the extra spellings of real exports (Apollo, HubSpot, LinkedIn Sales Navigator,
  Salesforce), looser ("role", "level", "account"), and used only for CSV headers, whose mapping a person reviews
  before the import runs. A webhook applies its mapping unseen, so there a field such as "Role" stays an answer.
- `COMPANY_FIELDS`: the company's fields a prospect's data may carry (`company_industry`, ...), written to its
  Company (see `prospects.services.company_values_apply`).
- Limits of what a prospect holds besides its text fields (custom fields, tags, notes, web-form answers), checked
  by `custom_fields_check` and `tags_check` in every entry point: API, forms, CSV import, webhooks.
- `split_full_name` / `names_from_full` / `with_split_name`: one way to turn "Ada Lovelace" or "Lovelace, Ada" into first and last name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError

from prospects import normalize
from prospects.models import Company, Prospect

# The person's profile, in the order the list export and the edit form show it.
PROFILE_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "title",
    "seniority",
    "department",
    "phone",
    "linkedin_url",
    "location",
    "timezone",
    "company_name",
    "company_domain",
)
TEXT_FIELDS: tuple[str, ...] = (*PROFILE_FIELDS, "source_detail")
FIELD_LIMITS: dict[str, int] = {
    f.name: int(f.max_length or 0) for f in Prospect._meta.concrete_fields if getattr(f, "max_length", None)
}
FULL_NAME = "full_name"  # not a column: split into first and last name on the way in

# A prospect's company fields and the Company column each is written to.
COMPANY_FIELDS: dict[str, str] = {
    "company_industry": "industry",
    "company_employee_count": "employee_count",
    "company_technologies": "technologies",
    "company_funding_stage": "funding_stage",
    "company_funding_total": "funding_total",
    "company_linkedin_url": "linkedin_url",
    "company_location": "location",
    "company_keywords": "keywords",
}
COMPANY_TEXT_FIELDS = (
    "company_industry",
    "company_funding_stage",
    "company_linkedin_url",
    "company_location",
)
COMPANY_LIST_FIELDS = ("company_technologies", "company_keywords")
COMPANY_NUMBER_FIELDS = ("company_employee_count", "company_funding_total")
COMPANY_FIELD_LIMITS: dict[str, int] = {
    name: int(getattr(Company._meta.get_field(column), "max_length", 0) or 0)
    for name, column in COMPANY_FIELDS.items()
    if name in COMPANY_TEXT_FIELDS
}
# Each item of a list field (a technology, a keyword), and how many a company keeps.
COMPANY_ITEM_LIMITS: dict[str, int] = {
    name: int(Company._meta.get_field(COMPANY_FIELDS[name]).base_field.max_length or 0)  # type: ignore[union-attr]
    for name in COMPANY_LIST_FIELDS
}
COMPANY_ITEMS_MAX = 500

# Limits of the free-form parts of a prospect, the same in every entry point.
CUSTOM_KEY_LIMIT = 64
CUSTOM_VALUE_LIMIT = 2_000
CUSTOM_KEYS_MAX = 50
TAG_LIMIT = int(Prospect._meta.get_field("tags").base_field.max_length or 60)  # type: ignore[attr-defined]
TAGS_MAX = 50
NOTE_LIMIT = 20_000
MESSAGE_LIMIT = 10_000  # one answer of a web form or lead ad (a "message" field)

# Keys are compared as alias_key() leaves them: "E-mail Address" and "email_address" are both "emailaddress".
ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "workemail", "businessemail"),
    "first_name": ("firstname", "givenname"),
    "last_name": ("lastname", "surname", "familyname"),
    FULL_NAME: ("name", "fullname", "yourname"),
    "title": ("title", "jobtitle", "position"),
    "phone": ("phone", "phonenumber", "telephone", "mobile", "workphone", "workphonenumber"),
    "linkedin_url": ("linkedin", "linkedinurl", "linkedinprofile"),
    "location": ("location", "city", "state", "region", "province", "country"),
    "company_name": ("company", "companyname", "organization", "organisation"),
    "company_domain": ("companydomain", "domain", "website", "companywebsite"),
    "timezone": ("timezone",),
    "do_not_contact": ("donotcontact",),
    "company_industry": ("companyindustry", "industry"),
    "company_employee_count": ("companyemployeecount", "employeecount", "numberofemployees", "companysize"),
    "company_technologies": ("companytechnologies", "technologies"),
    "company_funding_stage": ("companyfundingstage", "fundingstage"),
    "company_funding_total": ("companyfundingtotal", "totalfunding"),
    "company_linkedin_url": ("companylinkedinurl", "companylinkedin"),
    "company_location": ("companylocation",),
    "company_keywords": ("companykeywords",),
}
EXPORT_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("mail", "primaryemail", "contactemail", "emailid", "professionalemail"),
    "first_name": ("first", "fname", "forename"),
    "last_name": ("last", "lname"),
    FULL_NAME: ("contactname", "contact", "personname", "leadname", "prospectname"),
    "title": ("role", "jobrole", "designation", "currenttitle", "headline"),
    "seniority": ("seniority", "senioritylevel", "level"),
    "department": ("department", "departments", "function", "jobfunction"),
    "phone": (
        "firstphone",
        "mobilephone",
        "mobilephonenumber",
        "corporatephone",
        "directphone",
        "tel",
        "cellphone",
        "workdirectphone",
        "otherphone",
        "homephone",
        "businessphone",
    ),
    "linkedin_url": (
        "personlinkedinurl",
        "linkedinprofileurl",
        "profileurl",
        "linkedinprofilelink",
        "personlinkedin",
    ),
    "location": (
        "stateregion",
        "countryregion",
        "stateprovince",
        "geography",
        "personlocation",
        "leadlocation",
        "mailingcity",
        "mailingstate",
        "mailingstateprovince",
        "mailingcountry",
        "personcity",
        "personstate",
        "personcountry",
    ),
    "timezone": ("tz", "contacttimezone", "hstimezone"),
    "do_not_contact": (
        "unsubscribed",
        "unsubscribedfromallemail",
        "emailoptout",
        "optedout",
        "optout",
        "donotemail",
        "dnc",
    ),
    "company_name": (
        "organizationname",
        "account",
        "accountname",
        "companyaccount",
        "employer",
        "currentcompany",
        "companynameforemails",
    ),
    "company_domain": ("websiteurl", "companyurl", "companydomainname", "homepage", "web", "accountwebsite"),
    "tags": ("tags", "tag", "labels", "label"),
    "company_industry": ("industries", "accountindustry", "primaryindustry", "companyindustries"),
    "company_employee_count": (
        "employees",  # Apollo's "# Employees"
        "numemployees",
        "noofemployees",
        "accountemployees",
        "companyheadcount",
        "headcount",
        "employeerange",
        "companysizerange",
    ),
    "company_technologies": ("technology", "techstack", "technologiesused"),
    "company_funding_stage": ("latestfunding", "latestfundingstage", "lastfundingtype", "lastfundinground"),
    "company_funding_total": ("totalfundingamount", "totalfundingusd", "totalraised", "totalmoneyraised"),
    "company_linkedin_url": (
        "companylinkedinprofile",
        "companylinkedinpage",
        "linkedincompanyurl",
        "companyprofileurl",
        "accountlinkedinurl",
    ),
    "company_location": (
        "companycity",
        "companystate",
        "companyregion",
        "companystateregion",
        "companycountry",
        "companyheadquarters",
        "headquarters",
        "hqlocation",
    ),
    "company_keywords": ("keywords", "specialties", "companyspecialties"),
}
# Parts of a place a form may send separately; joined as "city, region, country" when no location is given.
LOCATION_PARTS: dict[str, int] = {"city": 0, "state": 1, "region": 1, "province": 1, "country": 2}

_ALIAS_TO_FIELD = {alias: name for name, aliases in ALIASES.items() for alias in aliases}
_EXPORT_ALIAS_TO_FIELD = {
    **{alias: name for name, aliases in EXPORT_ALIASES.items() for alias in aliases},
    **_ALIAS_TO_FIELD,
}
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def alias_key(name: str) -> str:
    return _NOT_ALNUM.sub("", name.lower())


def field_for_alias(name: str, *, exports: bool = False) -> str | None:
    """The prospect field a header or field name stands for, or None. `exports` adds the looser spellings of
    CSV exports (see the module docstring)."""
    return (_EXPORT_ALIAS_TO_FIELD if exports else _ALIAS_TO_FIELD).get(alias_key(name))


def split_full_name(value: str) -> tuple[str, str]:
    """'Ada Lovelace' → ('Ada', 'Lovelace'); 'Lovelace, Ada' → ('Ada', 'Lovelace'); 'Ludwig van Beethoven' keeps
    the particle with the last name."""
    value = " ".join(value.split())
    if "," in value:
        last, _, first = value.partition(",")
        return first.strip(), last.strip()
    first, _, last = value.partition(" ")
    return first, last


def names_from_full(*, first_name: str, last_name: str, full_name: str) -> tuple[str, str]:
    """First and last name, split from the full name only when neither was given: explicit names win."""
    if full_name.strip() and not (first_name or last_name):
        return split_full_name(full_name)
    return first_name, last_name


def with_split_name(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `data` without `full_name`, which fills first and last name when neither is given."""
    rest = {key: value for key, value in data.items() if key != FULL_NAME}
    full_name = str(data.get(FULL_NAME) or "").strip()
    if full_name and not (rest.get("first_name") or rest.get("last_name")):
        rest["first_name"], rest["last_name"] = split_full_name(full_name)
    return rest


# --- limits ------------------------------------------------------------------------------------------------


def custom_fields_check(values: Mapping[str, Any], *, name: str = "custom_fields") -> dict[str, Any]:
    """The custom fields as given, or a ValidationError naming the limit they exceed (never cut short)."""
    if len(values) > CUSTOM_KEYS_MAX:
        raise ValidationError({name: f"at most {CUSTOM_KEYS_MAX} custom fields (got {len(values):,})"})
    checked: dict[str, Any] = {}
    for key, value in values.items():
        key = str(key).strip()
        if not key:
            raise ValidationError({name: "a custom field needs a name"})
        if len(key) > CUSTOM_KEY_LIMIT:
            raise ValidationError(
                {name: f"the name “{key[:40]}…” is {len(key):,} characters long (limit {CUSTOM_KEY_LIMIT})"}
            )
        size = (
            len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False, default=str))
        )
        if size > CUSTOM_VALUE_LIMIT:
            raise ValidationError(
                {name: f"“{key}” is {size:,} characters long (limit {CUSTOM_VALUE_LIMIT:,})"}
            )
        checked[key] = value
    return checked


def custom_fields_total_check(merged: Mapping[str, Any]) -> None:
    """A prospect's custom fields once new ones are added to the stored ones."""
    if len(merged) > CUSTOM_KEYS_MAX:
        raise ValidationError(
            {
                "custom_fields": f"a prospect can have at most {CUSTOM_KEYS_MAX} custom fields (this makes {len(merged)})"
            }
        )


def tags_check(tags: list[str], *, name: str = "tags") -> list[str]:
    """Tags within TAG_LIMIT characters each and TAGS_MAX in all, or a ValidationError naming the one too long."""
    for tag in tags:
        if len(tag) > TAG_LIMIT:
            raise ValidationError(
                {name: f"the tag “{tag[:40]}…” is {len(tag):,} characters long (limit {TAG_LIMIT})"}
            )
    if len(tags) > TAGS_MAX:
        raise ValidationError(
            {name: f"a prospect can have at most {TAGS_MAX} tags (this makes {len(tags):,})"}
        )
    return tags


# --- company values ----------------------------------------------------------------------------------------

COMPANY_FIELD_LABELS: dict[str, str] = {
    "company_industry": "Company industry",
    "company_employee_count": "Company size (employees)",
    "company_technologies": "Company technologies",
    "company_funding_stage": "Company funding stage",
    "company_funding_total": "Company total funding",
    "company_linkedin_url": "Company LinkedIn URL",
    "company_location": "Company location",
    "company_keywords": "Company keywords",
}


def company_values_clean(data: Mapping[str, Any]) -> dict[str, Any]:
    """The company fields present in `data`, keyed by Company column, parsed and within their limits ("" / None /
    [] for a blank). Raises ValidationError naming the prospect field ("company_employee_count")."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, column in COMPANY_FIELDS.items():
        if name not in data or data[name] is None:
            continue
        raw = data[name]
        try:
            if name in COMPANY_NUMBER_FIELDS:
                parse = normalize.employee_count if name == "company_employee_count" else normalize.money
                values[column] = parse(
                    raw if isinstance(raw, int) and not isinstance(raw, bool) else str(raw)
                )
                if values[column] is not None and not 0 <= values[column] < 2**63:
                    raise ValidationError(f"{raw!r} is out of range")
            elif name in COMPANY_LIST_FIELDS:
                found = normalize.items(raw if isinstance(raw, list) else str(raw))
                limit = COMPANY_ITEM_LIMITS[name]
                if too_long := next((item for item in found if len(item) > limit), None):
                    raise ValidationError(
                        f"“{too_long[:40]}…” is {len(too_long):,} characters long (limit {limit})"
                    )
                if len(found) > COMPANY_ITEMS_MAX:
                    raise ValidationError(f"at most {COMPANY_ITEMS_MAX} items (got {len(found):,})")
                values[column] = found
            else:
                text = " ".join(str(raw).split())
                if name == "company_linkedin_url":
                    text = normalize.web_url(text)
                limit = COMPANY_FIELD_LIMITS[name]
                if len(text) > limit:
                    raise ValidationError(f"is longer than {limit} characters")
                values[column] = text
        except ValidationError as exc:
            errors[name] = " ".join(exc.messages)
    if errors:
        raise ValidationError(errors)
    return values


def company_values_as_custom(values: Mapping[str, Any]) -> dict[str, str]:
    """Company values kept on a prospect that has no company to hold them (no website, no work email)."""
    labels = {column: COMPANY_FIELD_LABELS[name] for name, column in COMPANY_FIELDS.items()}
    kept: dict[str, str] = {}
    for column, value in values.items():
        if value in ("", None, []):
            continue
        kept[labels[column]] = ", ".join(value) if isinstance(value, list) else str(value)
    return kept
