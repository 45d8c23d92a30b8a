"""Infrastructure's own table: the ledger of AI spend that every LLM call writes to (leadgen.ai.budget)."""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from leadgen.tenancy import OrgOwned


class AiSpend(OrgOwned):
    """One LLM call's tokens and cost, charged to the organisation in scope when it was made.

    Append-only: caches of judgements and drafts (Qualification, ComposedDraft) are overwritten when their inputs
    change, so a month's spend is summed from here, where a call made twice is counted twice.
    """

    created_at = models.DateTimeField(default=now)
    purpose = models.CharField(max_length=64)  # the prompt's name: "qualify", "draft_en", ...
    model = models.CharField(max_length=100, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=10, decimal_places=6, default=0)

    class Meta:
        indexes = [models.Index(fields=["org", "created_at"], name="aispend_org_created")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.model}: ${self.cost_usd}"
