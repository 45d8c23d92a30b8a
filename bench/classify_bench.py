"""What classifying costs per incoming mail: parsing (the stdlib, email.policy.default, as the inbound path does),
classify_message (bounce / auto-reply / reply, return date),
clean_body (quoted history and signature stripped) and the offline intent rules, over the real-format fixtures in
outreach/tests/inbound/fixtures (Gmail, Outlook, Apple Mail, Thunderbird replies; out-of-office in eight languages;
Postfix, Office 365, Gmail, Exim and qmail bounces), cycled until --messages mails have been read.

Run (no database is touched; settings only):

    .venv/bin/python -m leadgen.embedded exec -- .venv/bin/python bench/classify_bench.py [--messages N]

Single process, single thread: the figure is per core. Prints JSON and writes bench/results/classify.json.
"""

from __future__ import annotations

import argparse
import datetime
import email
import email.policy
import json
import os
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "outreach" / "tests" / "inbound" / "fixtures"
RESULTS = ROOT / "bench" / "results" / "classify.json"


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadgen.settings.test")
    import django

    django.setup()


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


def run(messages: int) -> dict[str, Any]:
    from outreach.inbound.classify import classify_message, clean_body, message_text
    from outreach.inbound.intent import intent_rules

    raws = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    kinds: dict[str, int] = {}
    parse = classify = clean = intent = 0.0
    for index in range(messages):
        raw = raws[index % len(raws)]
        started = time.perf_counter()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        received = (
            parsedate_to_datetime(str(msg["Date"])) if msg["Date"] else datetime.datetime.now(datetime.UTC)
        )
        parsed = time.perf_counter()
        result = classify_message(msg, received_at=received)  # type: ignore[arg-type]
        middle = time.perf_counter()
        text = clean_body(message_text(msg))
        cleaned = time.perf_counter()
        if result.kind == "reply":
            intent_rules(body=text)
        done = time.perf_counter()
        parse += parsed - started
        classify += middle - parsed
        clean += cleaned - middle
        intent += done - cleaned
        kinds[result.kind] = kinds.get(result.kind, 0) + 1
    total = parse + classify + clean + intent
    return {
        "bench": "classify",
        "date": datetime.date.today().isoformat(),
        "messages": messages,
        "fixtures": len(raws),
        "kinds": kinds,
        "parse_per_s": _rate(messages, parse),
        "classify_per_s": _rate(messages, classify),
        "clean_body_per_s": _rate(messages, clean),
        "intent_rules_per_s": _rate(kinds.get("reply", 0), intent),
        "all_per_s": _rate(messages, total),
        "ms_per_message": round(1000 * total / messages, 3),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    _setup()
    figures = run(args.messages)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
