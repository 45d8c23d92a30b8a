"""Daily rollups of engagement, kept up to date from `outreach.Event` and `outreach.Reply` (analytics.rollups).

Pages read these, never the event table: a day of one organisation is a few hundred rows however many events it
had. Each counter counts *messages*, once each: a message's first event of a kind (first by id, so a late event
never moves an already counted one), with bot traffic apart: `opened` and `clicked` are human only, Apple Mail
Privacy Protection opens are `machine_opened`, scanner clicks `bot_clicked`. `positive` counts replies whose intent
is "interested". The day is the UTC date of the event (`Event.at`), so a late-arriving event lands in its own day.

Three grains, one per kind of question:
- CampaignDaily: campaign, step, variant, mailbox (campaign report, deliverability, the funnel's totals);
- SegmentDaily: the recipient's ICP, tier, seniority, department, industry, company size band and country;
- SendTimeDaily: the weekday and hour the message was sent, in the recipient's local time, per campaign (the
  send-hour breakdown, which a campaign filter narrows);
- HeatmapDaily: the same without the campaign, a fifth of the rows or fewer: what the heatmap page reads.
Every grain carries ICP, so the pages' filters apply to all of them.

FunnelDaily is of another kind: per day people were *added* (a cohort), how many of them have reached each funnel
stage so far. It is recounted from prospects for the cohorts whose people changed (analytics.rollups).
"""

from __future__ import annotations

from django.db import models
from django.utils.timezone import now

from leadgen.tenancy import OrgOwned

COUNTERS = (
    "sent",
    "delivered",
    "bounced",
    "hard_bounced",
    "opened",
    "machine_opened",
    "clicked",
    "bot_clicked",
    "replied",
    "positive",
    "auto_replied",
    "unsubscribed",
    "complained",
)


class Counts(models.Model):
    """The counters every rollup grain carries (see COUNTERS)."""

    sent = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    hard_bounced = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    machine_opened = models.PositiveIntegerField(default=0)
    clicked = models.PositiveIntegerField(default=0)
    bot_clicked = models.PositiveIntegerField(default=0)
    replied = models.PositiveIntegerField(default=0)
    positive = models.PositiveIntegerField(default=0)
    auto_replied = models.PositiveIntegerField(default=0)
    unsubscribed = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class CampaignDaily(OrgOwned, Counts):
    day = models.DateField()
    campaign_id = models.BigIntegerField(default=0)  # 0: not sent by a campaign
    step = models.PositiveSmallIntegerField(default=0)  # 1-based, as Message.meta["step"]; 0: none
    variant = models.CharField(max_length=40, blank=True)
    mailbox_id = models.BigIntegerField(default=0)
    icp_id = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "day", "campaign_id", "step", "variant", "mailbox_id", "icp_id"],
                name="campaigndaily_key",
            )
        ]
        indexes = [models.Index(fields=["org", "campaign_id", "day"], name="campaigndaily_org_campaign")]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.org_id} {self.day}"


class SegmentDaily(OrgOwned, Counts):
    day = models.DateField()
    campaign_id = models.BigIntegerField(default=0)
    icp_id = models.BigIntegerField(default=0)
    tier = models.CharField(max_length=12, blank=True)
    seniority = models.CharField(max_length=60, blank=True)
    department = models.CharField(max_length=60, blank=True)
    industry = models.CharField(max_length=60, blank=True)
    size_band = models.CharField(max_length=12, blank=True)
    country = models.CharField(max_length=2, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "org",
                    "day",
                    "campaign_id",
                    "icp_id",
                    "tier",
                    "seniority",
                    "department",
                    "industry",
                    "size_band",
                    "country",
                ],
                name="segmentdaily_key",
            )
        ]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.org_id} {self.day}"


class SendTimeDaily(OrgOwned, Counts):
    day = models.DateField()
    campaign_id = models.BigIntegerField(default=0)
    icp_id = models.BigIntegerField(default=0)
    industry = models.CharField(max_length=60, blank=True)
    weekday = models.PositiveSmallIntegerField()  # 0 Monday … 6 Sunday, recipient's local time
    hour = models.PositiveSmallIntegerField()  # 0-23, recipient's local time

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "day", "campaign_id", "icp_id", "industry", "weekday", "hour"],
                name="sendtimedaily_key",
            )
        ]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.org_id} {self.day}"


class HeatmapDaily(OrgOwned, Counts):
    day = models.DateField()
    icp_id = models.BigIntegerField(default=0)
    industry = models.CharField(max_length=60, blank=True)
    weekday = models.PositiveSmallIntegerField()  # 0 Monday … 6 Sunday, recipient's local time
    hour = models.PositiveSmallIntegerField()  # 0-23, recipient's local time

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["org", "day", "icp_id", "industry", "weekday", "hour"], name="heatmapdaily_key"
            )
        ]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.org_id} {self.day}"


FUNNEL_STAGES = (
    "prospects",
    "enriched",
    "qualified",
    "enrolled",
    "contacted",
    "opened",
    "replied",
    "interested",
    "meeting",
    "won",
)


class FunnelDaily(OrgOwned):
    """People added on `day` (UTC) with this ICP, and how many of them reached each stage or a later one (a reply
    with no tracked open was still read), so each step's conversion stays at or under 100%."""

    day = models.DateField()
    icp_id = models.BigIntegerField(default=0)
    prospects = models.PositiveIntegerField(default=0)
    enriched = models.PositiveIntegerField(default=0)
    qualified = models.PositiveIntegerField(default=0)
    enrolled = models.PositiveIntegerField(default=0)
    contacted = models.PositiveIntegerField(default=0)
    opened = models.PositiveIntegerField(default=0)
    replied = models.PositiveIntegerField(default=0)
    interested = models.PositiveIntegerField(default=0)
    meeting = models.PositiveIntegerField(default=0)
    won = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["org", "day", "icp_id"], name="funneldaily_key")]

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.org_id} {self.day}"


class ProspectSegment(OrgOwned):
    """What the rollups need to know about a recipient, computed set-based in SQL (country and timezone are
    inferred from free text by prospects.timezones in Python, once per distinct text), and how far they got:
    the funnel rollup reads the `first_*` moments instead of scanning events."""

    prospect_id = models.BigIntegerField()
    icp_id = models.BigIntegerField(default=0)
    tier = models.CharField(max_length=12, blank=True)
    seniority = models.CharField(max_length=60, blank=True)
    department = models.CharField(max_length=60, blank=True)
    industry = models.CharField(max_length=60, blank=True)
    size_band = models.CharField(max_length=12, blank=True)
    country = models.CharField(max_length=2, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    first_contacted_at = models.DateTimeField(null=True, blank=True)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    first_replied_at = models.DateTimeField(null=True, blank=True)
    first_positive_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["org", "prospect_id"], name="prospectsegment_one_per_prospect")
        ]

    def __str__(self) -> str:
        return f"segment of prospect {self.prospect_id}"


class RollupCursor(models.Model):
    """How far the incremental updater has read, across every organisation: events and replies with ids up to
    these are in the rollups; prospects changed before `funnel_at` and enrollments up to `enrollment_id` are in the
    funnel. Not a tenant
    table: one row, named "engagement"."""

    name = models.CharField(max_length=40, primary_key=True)
    event_id = models.BigIntegerField(default=0)
    reply_id = models.BigIntegerField(default=0)
    funnel_at = models.DateTimeField(null=True, blank=True)
    enrollment_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"{self.name}: events ≤ {self.event_id}, replies ≤ {self.reply_id}"


class CampaignTest(OrgOwned):
    """A campaign's A/B settings: the sends each variant needs before a winner is called, whether the winner is
    promoted automatically (p < 0.05 at that sample), and the promotion once made."""

    campaign = models.OneToOneField("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    min_sends = models.PositiveIntegerField(default=200)
    auto_promote = models.BooleanField(default=False)
    promoted_step = models.PositiveSmallIntegerField(null=True, blank=True)
    promoted_variant = models.CharField(max_length=40, blank=True)
    promoted_at = models.DateTimeField(null=True, blank=True)
    promoted_by = models.CharField(max_length=20, blank=True)  # "you" | "auto"

    def __str__(self) -> str:
        return f"A/B settings of campaign {self.campaign_id}"
