"""`make run` calls this: the demo organisation, its owner, and enough prospects to see every page at work."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Organization, User
from accounts.services import organization_create
from leadgen.tenancy import org_scope
from prospects.icps.services import icp_create
from prospects.models import ICP, Company, Prospect, Source, Stage
from prospects.scoring.intake import pipeline_enqueue_on_commit
from prospects.services import prospect_change_stage, prospect_upsert

DEMO_EMAIL = "demo@leadgen.localhost"
DEMO_PASSWORD = "leadgen-demo"
DEMO_SLUG = "demo"

# (company name, domain, industry, employees, location, technologies)
COMPANIES = [
    (
        "Northwind Analytics",
        "northwind-analytics.example",
        "Software",
        180,
        "Berlin, Germany",
        ["HubSpot", "React"],
    ),
    (
        "Bluefin Logistics",
        "bluefin-logistics.example",
        "Logistics",
        950,
        "Rotterdam, Netherlands",
        ["Salesforce"],
    ),
    ("Copperleaf Health", "copperleaf-health.example", "Healthcare", 420, "Boston, USA", ["Zendesk"]),
    ("Lumen Retail", "lumen-retail.example", "Retail", 2400, "Lyon, France", ["Shopify", "Segment"]),
    ("Quarry Data", "quarry-data.example", "Software", 65, "London, UK", ["Intercom", "Stripe"]),
    ("Harbor Fintech", "harbor-fintech.example", "Financial services", 310, "Dublin, Ireland", ["Stripe"]),
]
PEOPLE = [
    ("Ada", "Lindqvist", "VP Sales", "vp", "Sales"),
    ("Rafael", "Moreau", "Head of Revenue Operations", "head", "Sales"),
    ("Mina", "Okafor", "Chief Technology Officer", "c_suite", "Engineering"),
    ("Jonas", "Berg", "Sales Development Representative", "entry", "Sales"),
    ("Priya", "Raman", "Director of Marketing", "director", "Marketing"),
]


class Command(BaseCommand):
    help = "Create the demo organisation, its owner and demo prospects (idempotent) and print how to log in."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = User.objects.create_user(
                    DEMO_EMAIL, DEMO_PASSWORD, first_name="Demo", last_name="Owner"
                )
                EmailAddress.objects.create(user=user, email=DEMO_EMAIL, primary=True, verified=True)
            org = Organization.objects.filter(slug=DEMO_SLUG).first()
            if org is None:
                org = organization_create(name="Demo Company", owner=user)
                org.slug = DEMO_SLUG
                org.postal_address = "1 Demo Street, Springfield, USA"
                org.save(update_fields=["slug", "postal_address"])
            with org_scope(org):
                if not Prospect.objects.exists():
                    self._seed_prospects(org, user)
        self.stdout.write(
            f"[leadgen] demo organisation: {org.slug}  ·  log in as {DEMO_EMAIL} / {DEMO_PASSWORD}"
        )

    def _seed_prospects(self, org: Organization, user: User) -> None:
        created: list[int] = []
        stages = [Stage.NEW, Stage.NEW, Stage.CONTACTED, Stage.REPLIED, Stage.MEETING]
        for c_index, (name, domain, industry, employees, location, tech) in enumerate(COMPANIES):
            Company.objects.create(
                org=org,
                name=name,
                domain=domain,
                industry=industry,
                employee_count=employees,
                location=location,
                technologies=tech,
            )
            for p_index, (first, last, title, seniority, department) in enumerate(PEOPLE):
                result = prospect_upsert(
                    org=org,
                    actor=user,
                    source=Source.MANUAL,
                    data={
                        "first_name": first,
                        "last_name": f"{last}-{c_index + 1}" if c_index else last,
                        "email": f"{first.lower()}.{last.lower()}@{domain}",
                        "title": title,
                        "seniority": seniority,
                        "department": department,
                        "location": location,
                        "company_name": name,
                        "company_domain": domain,
                        "tags": ["demo"],
                    },
                )
                if result.prospect is not None:
                    created.append(result.prospect.pk)
                    stage = stages[(c_index + p_index) % len(stages)]
                    if stage != Stage.NEW:
                        prospect_change_stage(prospect=result.prospect, stage=stage, actor=user)
        if not ICP.objects.exists():
            icp_create(
                actor=user,
                data={
                    "name": "B2B software revenue leaders",
                    "description": "Sales and revenue leaders at software companies with 50 to 1,000 employees "
                    "in Europe, who run outbound teams and use a modern sales stack.",
                    "criteria": {
                        "industries": ["Software"],
                        "employee_min": 50,
                        "employee_max": 1000,
                        "locations": ["Germany", "UK", "Ireland", "Netherlands", "France"],
                        "seniorities": ["vp", "head", "director", "c_suite"],
                        "title_keywords": ["sales", "revenue"],
                        "technologies": ["HubSpot", "Salesforce"],
                    },
                },
            )
        # Demo domains do not resolve: enrichment records that, and scoring runs on the stored data.
        pipeline_enqueue_on_commit(org_id=org.pk, prospect_ids=created)
