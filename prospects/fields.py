"""The prospect field vocabulary, shared by the API, forms, CSV import, merge and inbound webhooks.

- `TEXT_FIELDS`: the plain text fields a client may set; names match the generic CSV headers and the API.
- `FIELD_LIMITS`: their length limits, read from the model.
- Aliases: the spellings a CSV header, a web-form field name, a Meta `field_data` name or a Google column id may
  use for a field, compared by `alias_key` (lower-cased, letters and digits only). `ALIASES` are safe for every
  channel; `EXPORT_ALIASES` are the extra spellings of real exports (Apollo, HubSpot, LinkedIn Sales Navigator,
  Salesforce), looser ("role", "level", "account"), and used only for CSV headers, whose mapping a person reviews
  before the import runs. A webhook applies its mapping unseen, so there a field such as "Role" stays an answer.
- `split_full_name` / `names_from_full` / `with_split_name`: one way to turn "Ada Lovelace" or "Lovelace, Ada" into first and last name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from prospects.models import Prospect

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
    f.name: int(f.max_length) for f in Prospect._meta.concrete_fields if getattr(f, "max_length", None)
}
FULL_NAME = "full_name"  # not a column: split into first and last name on the way in

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
        "mobilephone",
        "mobilephonenumber",
        "corporatephone",
        "directphone",
        "tel",
        "cellphone",
        "workdirectphone",
        "otherphone",
        "homephone",
    ),
    "linkedin_url": (
        "personlinkedinurl",
        "linkedinprofileurl",
        "profileurl",
        "linkedinprofilelink",
        "personlinkedin",
    ),
    "location": ("stateregion", "countryregion", "geography", "personlocation"),
    "timezone": ("timezone", "tz"),
    "company_name": ("organizationname", "account", "accountname", "employer", "currentcompany"),
    "company_domain": ("websiteurl", "companyurl", "companydomainname", "homepage", "web"),
    "tags": ("tags", "tag", "labels", "label"),
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
