"""CRM connections: credentials (encrypted, never shown back), field mapping with defaults, the adapter for one.

Secrets are kept in one encrypted JSON document per connection; a form field left blank keeps the stored value, so
a page can offer to change a secret without ever showing it.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Organization, User
from prospects.crm.adapters.base import CrmAdapter, CrmError
from prospects.crm.adapters.hubspot import HubSpot
from prospects.crm.adapters.salesforce import Salesforce, token_cache_key
from prospects.crm.models import CrmConnection, CrmKind, PushTrigger

# Leadgen fields a user can map to a CRM property, in the order the settings page shows them.
MAPPABLE_FIELDS: list[tuple[str, str]] = [
    ("first_name", "First name"),
    ("last_name", "Last name"),
    ("email", "Email"),
    ("title", "Job title"),
    ("phone", "Phone"),
    ("company_name", "Company name"),
    ("linkedin_url", "LinkedIn profile"),
    ("score", "Leadgen score (0-100)"),
    ("tier", "Tier (A, B, C)"),
    ("reasoning", "Why it scored so"),
    ("hooks", "Top talking points"),
    ("url", "Link to the prospect in Leadgen"),
]
DEFAULT_MAPPING: dict[str, dict[str, str]] = {
    CrmKind.HUBSPOT: {
        "first_name": "firstname",
        "last_name": "lastname",
        "email": "email",
        "title": "jobtitle",
        "phone": "phone",
        "company_name": "company",
        "linkedin_url": "",
        "score": "leadgen_score",
        "tier": "leadgen_tier",
        "reasoning": "leadgen_reasoning",
        "hooks": "leadgen_hooks",
        "url": "leadgen_url",
    },
    CrmKind.SALESFORCE: {
        "first_name": "FirstName",
        "last_name": "LastName",
        "email": "Email",
        "title": "Title",
        "phone": "Phone",
        "company_name": "",
        "linkedin_url": "",
        "score": "Leadgen_Score__c",
        "tier": "Leadgen_Tier__c",
        "reasoning": "Leadgen_Reasoning__c",
        "hooks": "Leadgen_Hooks__c",
        "url": "Leadgen_URL__c",
    },
}
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    CrmKind.HUBSPOT: ("token", "client_secret"),
    CrmKind.SALESFORCE: ("client_id", "client_secret", "password", "security_token", "private_key"),
}
OPTION_FIELDS: dict[str, tuple[str, ...]] = {
    CrmKind.HUBSPOT: (),
    CrmKind.SALESFORCE: (
        "username",
        "login_url",
        "auth_flow",
        "contact_external_id",
        "account_external_id",
        "disqualified_status",
    ),
}
PROPERTY_NAME_MAX = 100


def credentials_of(connection: CrmConnection) -> dict[str, str]:
    try:
        data = json.loads(connection.credentials or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def secrets_set(connection: CrmConnection) -> set[str]:
    """Which secrets are stored (for "set" badges); never their values."""
    return {name for name, value in credentials_of(connection).items() if value}


def mapping_of(connection: CrmConnection) -> dict[str, str]:
    """The effective mapping: the stored choices over the defaults of the connection's CRM."""
    mapping = dict(DEFAULT_MAPPING[connection.kind])
    mapping.update({k: str(v) for k, v in (connection.field_mapping or {}).items() if k in mapping})
    return mapping


def _mapping_clean(mapping: dict[str, str]) -> dict[str, str]:
    known = {name for name, _ in MAPPABLE_FIELDS}
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in mapping.items():
        if name not in known:
            continue
        value = (value or "").strip()
        if len(value) > PROPERTY_NAME_MAX or (
            value and not value.replace("_", "").replace(".", "").isalnum()
        ):
            errors[f"map_{name}"] = "Use the CRM's internal property name: letters, digits and underscores."
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def connection_for(kind: str) -> CrmConnection | None:
    return CrmConnection.objects.filter(kind=kind).first()


def connection_save(
    *,
    org: Organization,
    kind: str,
    secrets: dict[str, str],
    options: dict[str, str],
    mapping: dict[str, str],
    push_trigger: str,
    is_active: bool = True,
    actor: User | None,
) -> CrmConnection:
    """Create or update the org's connection to one CRM. Blank secrets keep the stored ones."""
    from accounts.services import audit_record

    if kind not in CrmKind.values:
        raise ValidationError({"kind": "Choose HubSpot or Salesforce."})
    if push_trigger not in PushTrigger.values:
        raise ValidationError({"push_trigger": "Choose when prospects are sent."})
    connection = connection_for(kind) or CrmConnection(org=org, kind=kind)
    stored = credentials_of(connection)
    changed = sorted(name for name in SECRET_FIELDS[kind] if (secrets.get(name) or "").strip())
    stored.update({name: secrets[name].strip() for name in changed})
    connection.credentials = json.dumps(stored)
    connection.options = {
        **(connection.options or {}),
        **{name: (options.get(name) or "").strip() for name in OPTION_FIELDS[kind] if name in options},
    }
    connection.field_mapping = _mapping_clean(mapping) if mapping else connection.field_mapping
    connection.push_trigger = push_trigger
    connection.is_active = is_active
    connection.save()
    # A cached Salesforce session belongs to the old credentials.
    cache.delete(token_cache_key(str(connection.pk)))
    audit_record(
        org=org,
        actor=actor,
        action="crm_connection.save",
        target=connection,
        data={"secrets_changed": changed},
    )
    return connection


def connection_delete(*, connection: CrmConnection, actor: User | None) -> None:
    from accounts.services import audit_record

    audit_record(org=connection.org, actor=actor, action="crm_connection.delete", target=connection)
    connection.delete()


def adapter_for(connection: CrmConnection) -> CrmAdapter:
    credentials = credentials_of(connection)
    if connection.kind == CrmKind.HUBSPOT:
        return HubSpot(token=credentials.get("token", ""))
    return Salesforce(credentials=credentials, options=connection.options or {}, cache_key=str(connection.pk))


def connection_error_record(*, connection: CrmConnection, error: str) -> None:
    CrmConnection.objects.filter(pk=connection.pk).update(
        last_error=error[:500], last_error_at=timezone.now()
    )


def connection_test(*, connection: CrmConnection) -> tuple[bool, str]:
    """ "Test connection": one authenticated call; (worked?, what the CRM said)."""
    try:
        adapter = adapter_for(connection)
    except CrmError as exc:
        return False, str(exc)
    try:
        return True, adapter.check()
    except CrmError as exc:
        connection_error_record(connection=connection, error=str(exc))
        return False, str(exc)
    finally:
        adapter.close()


def connections_for_trigger(trigger: str = PushTrigger.ON_QUALIFY) -> list[CrmConnection]:
    return list(CrmConnection.objects.filter(is_active=True, push_trigger=trigger))


def connection_values(connection: CrmConnection) -> dict[str, Any]:
    """Non-secret values for the settings form."""
    return {**(connection.options or {}), "push_trigger": connection.push_trigger}
