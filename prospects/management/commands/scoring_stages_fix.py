"""Re-judge scored prospects with the current rules and put pipeline-held stages where the threshold says.

The first pipeline moved every scored prospect to "Qualified", a 21 (C) included. This command runs qualification
again for every scored prospect, whatever its stage, (a judgement whose inputs did not change is reused: an LLM judgement costs nothing
again; rules-v1 judgements are recomputed under the new rules version) and lets the stage follow the score, as the
pipeline now does: at or above the org's threshold qualified, below enriched, disqualified only when the judgement
says so. Stages a person or an API client set are left alone. Idempotent: a second run changes nothing. No alerts
or webhooks are sent for prospects that newly reach the threshold.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from accounts.models import Organization
from leadgen.tenancy import org_scope
from prospects.models import Prospect
from prospects.scoring.qualification import prospect_qualify


class Command(BaseCommand):
    help = "Re-judge scored prospects and let pipeline-held stages follow the qualification threshold."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", help="only this organisation (slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        orgs = Organization.objects.order_by("pk")
        if options.get("org"):
            orgs = orgs.filter(slug=options["org"])
        total: Counter[str] = Counter()
        for org in orgs:
            moves: Counter[str] = Counter()
            with org_scope(org):
                ids = list(
                    Prospect.objects.filter(score__isnull=False).order_by("pk").values_list("pk", flat=True)
                )
                for pk in ids:
                    before = Prospect.objects.filter(pk=pk).values_list("stage", flat=True).first()
                    outcome = prospect_qualify(prospect_id=pk)
                    if before is not None and outcome.stage != before:
                        moves[f"{before} → {outcome.stage}"] += 1
            changed = sum(moves.values())
            total.update(moves)
            detail = ", ".join(f"{move}: {count}" for move, count in sorted(moves.items())) or "none"
            self.stdout.write(
                f"{org.slug}: {len(ids)} scored prospects checked, {changed} stages changed ({detail})"
            )
        self.stdout.write(f"stages changed: {sum(total.values())}")
