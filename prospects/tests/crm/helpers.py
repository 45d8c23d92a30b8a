"""Connections pointed at the fake CRM, for the CRM sync tests."""

from __future__ import annotations

from accounts.models import Organization
from leadgen.tenancy import org_scope
from prospects.crm.connections import connection_save
from prospects.crm.models import CrmConnection, CrmKind, PushTrigger
from prospects.tests import fake_crm


def hubspot_connection(
    org: Organization, *, trigger: str = PushTrigger.ON_QUALIFY, token: str = ""
) -> CrmConnection:
    with org_scope(org):
        return connection_save(
            org=org,
            kind=CrmKind.HUBSPOT,
            secrets={
                "token": token or fake_crm.HUBSPOT_TOKEN,
                "client_secret": fake_crm.HUBSPOT_CLIENT_SECRET,
            },
            options={},
            mapping={},
            push_trigger=trigger,
            actor=None,
        )


def salesforce_connection(
    org: Organization, *, trigger: str = PushTrigger.ON_QUALIFY, password: str = "", **options: str
) -> CrmConnection:
    with org_scope(org):
        return connection_save(
            org=org,
            kind=CrmKind.SALESFORCE,
            secrets={
                "client_id": fake_crm.SF_CLIENT_ID,
                "client_secret": fake_crm.SF_CLIENT_SECRET,
                "password": password or fake_crm.SF_PASSWORD,
                **{k: v for k, v in options.items() if k == "private_key"},
            },
            options={
                "username": fake_crm.SF_USERNAME,
                **{k: v for k, v in options.items() if k != "private_key"},
            },
            mapping={},
            push_trigger=trigger,
            actor=None,
        )
