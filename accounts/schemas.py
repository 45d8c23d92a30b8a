from __future__ import annotations

from ninja import Schema


class OrganizationOut(Schema):
    id: int
    name: str
    slug: str


class MeOut(Schema):
    organization: OrganizationOut
    key_name: str
    key_prefix: str
