"""Organisation scoping, enforced by the framework (STYLE.md rule 3).

The current organisation lives in a ContextVar set by `accounts.middleware.OrgMiddleware` (web), the API key auth (API) and
`org_task` (Celery). Tenant models use `OrgScopedManager`: their default queryset is filtered to the current
organisation and raises when none is set, so forgetting the scope is a loud bug, never a leak. `.unscoped()` is
the only bypass and is meant to be grep-able.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.http import Http404

if TYPE_CHECKING:
    from accounts.models import Organization

_current_org_id: ContextVar[int | None] = ContextVar("leadgen_current_org_id", default=None)

M = TypeVar("M", bound=models.Model)


class OrgScopeMissing(RuntimeError):
    """A tenant query ran with no organisation in scope."""


def current_org_id() -> int | None:
    return _current_org_id.get()


def require_org_id() -> int:
    org_id = _current_org_id.get()
    if org_id is None:
        raise OrgScopeMissing("no organisation in scope: set one with org_scope() or use .unscoped()")
    return org_id


@contextlib.contextmanager
def org_scope(org: Organization | int | None) -> Iterator[None]:
    org_id = org if isinstance(org, int) or org is None else org.pk
    token = _current_org_id.set(org_id)
    try:
        yield
    finally:
        _current_org_id.reset(token)


def set_org_for_request(org_id: int | None) -> None:
    """Set the scope for the rest of this request; OrgMiddleware restores the previous value afterwards."""
    _current_org_id.set(org_id)


class OrgScopedManager(models.Manager[M]):
    """Default manager of every tenant model."""

    def get_queryset(self) -> models.QuerySet[M]:
        return super().get_queryset().filter(org_id=require_org_id())

    def unscoped(self) -> models.QuerySet[M]:
        return super().get_queryset()


class OrgOwned(models.Model):
    """Abstract base for tenant data: an `org` foreign key and the scoped default manager."""

    org = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="+")

    objects = OrgScopedManager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.org_id is None:
            self.org_id = require_org_id()
        elif (scoped := current_org_id()) is not None and scoped != self.org_id:
            raise OrgScopeMissing(
                f"refusing to save {type(self).__name__} of org {self.org_id} in org {scoped}"
            )
        super().save(*args, **kwargs)


def get_for_org(model_or_qs: type[M] | models.QuerySet[M], **lookup: Any) -> M:
    """Fetch one row of the current organisation, or 404 for anything missing *or* not ours."""
    qs = model_or_qs if isinstance(model_or_qs, models.QuerySet) else model_or_qs._default_manager.all()
    try:
        return qs.filter(org_id=require_org_id()).get(**lookup)
    except (ObjectDoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.") from None


def org_task(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a Celery task body whose first argument is `org_id` (after `self` for a bound task) so it runs inside
    that organisation's scope."""
    bound = next(iter(inspect.signature(func).parameters), "") == "self"

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with org_scope(args[1] if bound else args[0]):
            return func(*args, **kwargs)

    return wrapper
