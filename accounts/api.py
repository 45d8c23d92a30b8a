from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from .schemas import MeOut

router = Router(tags=["account"])


@router.get("/me", response=MeOut, summary="The organisation and API key making this request")
def me(request: HttpRequest) -> dict[str, object]:
    key = request.auth  # type: ignore[attr-defined]
    return {"organization": key.org, "key_name": key.name, "key_prefix": key.prefix}
