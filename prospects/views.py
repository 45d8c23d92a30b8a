from __future__ import annotations

from django.http import HttpResponse

from leadgen.access import OrgRequest, member_required
from leadgen.views import coming


@member_required
def prospect_list(request: OrgRequest) -> HttpResponse:
    return coming(request, title="Prospects", nav="prospects")
