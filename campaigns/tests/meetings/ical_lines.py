"""A second, independent reader of iCalendar text: RFC 5545 §3.1 content lines, nothing from `icalendar`.

Unfolds continuation lines (CRLF followed by a space or tab), then splits `NAME;PARAM=V;…:VALUE`; returns the
components as nested dicts of property name -> list of (params, value)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Component:
    name: str
    props: dict[str, list[tuple[dict[str, str], str]]] = field(default_factory=dict)
    children: list[Component] = field(default_factory=list)

    def value(self, name: str) -> str:
        return self.props[name][0][1]

    def params(self, name: str) -> dict[str, str]:
        return self.props[name][0][0]


def _unfold(text: str) -> list[str]:
    assert "\r\n" in text, "RFC 5545 lines end with CRLF"
    lines: list[str] = []
    for raw in text.split("\r\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw:
            lines.append(raw)
    return lines


def _split(line: str) -> tuple[str, dict[str, str], str]:
    in_quotes, cut = False, -1
    for index, char in enumerate(line):
        if char == '"':
            in_quotes = not in_quotes
        elif char == ":" and not in_quotes:
            cut = index
            break
    head, value = line[:cut], line[cut + 1 :]
    name, *raw_params = head.split(";")
    params = {}
    for raw in raw_params:
        key, _, val = raw.partition("=")
        params[key.upper()] = val.strip('"')
    return name.upper(), params, value


def parse(text: str) -> Component:
    root = Component("ROOT")
    stack = [root]
    for line in _unfold(text):
        name, params, value = _split(line)
        if name == "BEGIN":
            child = Component(value.upper())
            stack[-1].children.append(child)
            stack.append(child)
        elif name == "END":
            assert stack.pop().name == value.upper(), f"unbalanced END:{value}"
        else:
            stack[-1].props.setdefault(name, []).append((params, value))
    assert len(stack) == 1, "unterminated component"
    return root.children[0]
