"""The only tags and filters an email template may use (the engine in `templates` loads nothing else).

Left out on purpose: `load`, `include`, `extends`, `block`, `debug`, `csrf_token`, `url`, `now`, `templatetag`,
`verbatim` (each reaches outside the variables offered, or prints template syntax back), and the filters `safe`,
`safeseq`, `pprint`, `dictsort*`, `random`, `date`/`time`, `stringformat`, `json_script`.
"""

from __future__ import annotations

from django.template import Library, defaultfilters, defaulttags

TAGS = ("if", "for", "with", "firstof", "comment", "spaceless")
FILTERS = (
    "default",
    "default_if_none",
    "capfirst",
    "lower",
    "upper",
    "title",
    "first",
    "last",
    "join",
    "length",
    "truncatechars",
    "truncatewords",
    "wordcount",
    "yesno",
    "pluralize",
    "cut",
    "add",
    "slice",
    "escape",
    "linebreaksbr",
    "urlencode",
)

register = Library()
register.tags.update({name: defaulttags.register.tags[name] for name in TAGS})
register.filters.update({name: defaultfilters.register.filters[name] for name in FILTERS})
