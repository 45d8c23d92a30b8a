"""End to end in Debian's chromium: sign up, verify, invite a teammate, promote them, remove them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:  # imported for real by pytest_plugins, so that pytest can rewrite its asserts
    from leadgen.tests.browser import SmtpSink

pytest_plugins = ["leadgen.tests.browser"]

ORG_NAME = "Initech Robotics"
ADMIN_EMAIL = "ada@initech.test"
TEAMMATE_EMAIL = "grace@initech.test"
PASSWORD = "purple-Walrus-stapler-42"


def sign_up(page: Page, *, password: str, email: str | None = None, org_name: str | None = None) -> None:
    """Fill and submit allauth's sign-up form on the current page."""
    form = page.locator("form", has=page.locator("input[name=password1]"))
    if email is not None:
        form.locator("input[name=email]").fill(email)
    if org_name is not None:
        form.get_by_label("Organisation name").fill(org_name)
    form.locator("input[name=password1]").fill(password)
    form.locator("input[name=password2]").fill(password)
    form.get_by_role("button", name=re.compile("sign up", re.IGNORECASE)).click()


def open_settings_section(page: Page, section: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name=section, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(section)


def expect_dashboard_of(page: Page, live_site: str, org_name: str, role: str) -> None:
    expect(page).to_have_url(f"{live_site}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(org_name)
    expect(page.locator("#main")).to_contain_text(f"You are {role} of this organisation.")
    expect(page.locator("#org-switcher summary")).to_have_text(org_name)


@pytest.mark.browser
def test_signup_invite_promote_and_remove_a_teammate(
    live_site: str, smtp_sink: SmtpSink, new_page: Callable[..., Page]
) -> None:
    # 1. The admin signs up, verifies their address from the emailed link and lands on their dashboard.
    admin = new_page("admin")
    admin.goto(f"{live_site}/accounts/signup/")
    sign_up(admin, email=ADMIN_EMAIL, password=PASSWORD, org_name=ORG_NAME)
    expect(admin).to_have_url(f"{live_site}/accounts/confirm-email/")
    expect(admin.get_by_role("heading", level=1)).to_have_text(re.compile("verify your email", re.IGNORECASE))

    confirmation = smtp_sink.newest(ADMIN_EMAIL, subject_contains="Confirm")
    confirm_url = confirmation.url("/accounts/confirm-email/")
    assert confirm_url.startswith(f"{live_site}/accounts/confirm-email/")
    admin.goto(confirm_url)
    expect(admin.get_by_role("heading", level=1)).to_have_text("Confirm Email Address")
    admin.get_by_role("button", name="Confirm").click()
    expect_dashboard_of(admin, live_site, ORG_NAME, "owner")

    # 2. Settings → Invitations: invite the teammate as a member; the invitation is mailed.
    open_settings_section(admin, "Invitations")
    invite_form = admin.locator("#invite-form")
    invite_form.get_by_label("Email").fill(TEAMMATE_EMAIL)
    invite_form.get_by_label("Role").select_option("member")
    invite_form.get_by_role("button", name="Send invitation").click()
    expect(admin.get_by_role("status")).to_have_text(f"Invitation sent to {TEAMMATE_EMAIL}.")
    invitation_row = admin.locator("#invitations tbody tr", has_text=TEAMMATE_EMAIL)
    expect(invitation_row).to_contain_text("Member")
    expect(invitation_row).to_contain_text("pending")

    invitation = smtp_sink.newest(TEAMMATE_EMAIL, subject_contains=f"invited to join {ORG_NAME}")
    invitation_url = invitation.url("/invitations/")
    assert invitation_url.startswith(f"{live_site}/invitations/")

    # 3. The teammate, in their own browser context, follows the link and signs up without verifying again.
    teammate = new_page("teammate")
    teammate.goto(invitation_url)
    expect(teammate.get_by_role("heading", level=1)).to_have_text(f"Join {ORG_NAME}")
    # Pico styles the link as a button with role="button", so that is its accessible role.
    teammate.get_by_role("button", name="Create an account").click()
    expect(teammate).to_have_url(re.compile(r"/accounts/signup/\?email="))
    expect(teammate.locator("input[name=email]")).to_have_value(TEAMMATE_EMAIL)
    sign_up(teammate, password=PASSWORD)
    expect_dashboard_of(teammate, live_site, ORG_NAME, "member")
    assert smtp_sink.mails_to(TEAMMATE_EMAIL) == [invitation], "the invited address needs no verification"

    # As a member the teammate has no admin settings.
    teammate.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(teammate.get_by_role("heading", level=1)).to_have_text("Your account")
    teammate_settings = teammate.get_by_role("navigation", name="Settings")
    expect(teammate_settings.get_by_role("link", name="Password")).to_be_visible()
    expect(teammate_settings.get_by_role("link", name="Members")).to_have_count(0)

    # 4. The admin makes the teammate an admin; on reload the teammate sees the admin settings.
    open_settings_section(admin, "Members")
    member_row = admin.locator("#members tbody tr", has_text=TEAMMATE_EMAIL)
    expect(member_row.get_by_label(f"Role of {TEAMMATE_EMAIL}")).to_have_value("member")
    member_row.get_by_label(f"Role of {TEAMMATE_EMAIL}").select_option("admin")
    member_row.get_by_role("button", name="Change role").click()
    expect(admin.get_by_role("status")).to_have_text(f"{TEAMMATE_EMAIL} is now admin.")
    expect(member_row.get_by_label(f"Role of {TEAMMATE_EMAIL}")).to_have_value("admin")

    teammate.reload()
    expect(teammate).to_have_url(f"{live_site}/settings/organization/")
    expect(teammate_settings.get_by_role("link", name="Members")).to_be_visible()
    teammate_settings.get_by_role("link", name="Members").click()
    expect(teammate.get_by_role("heading", level=1)).to_have_text("Members")
    expect(teammate.locator("#members")).to_contain_text(ADMIN_EMAIL)

    # 5. The admin removes the teammate; the teammate's next request no longer shows the organisation.
    member_row.get_by_role("button", name="Remove").click()
    expect(admin.get_by_role("status")).to_have_text(f"{TEAMMATE_EMAIL} was removed from {ORG_NAME}.")
    expect(admin.locator("#members tbody tr", has_text=TEAMMATE_EMAIL)).to_have_count(0)

    response = teammate.reload()
    assert response is not None
    assert response.status == 403
    expect(teammate).to_have_url(f"{live_site}/settings/members/")
    expect(teammate.get_by_role("heading", level=1)).to_have_text("You are not a member of any organisation")
    expect(teammate.locator("#members")).to_have_count(0)
    expect(teammate.locator("#org-switcher")).to_have_count(0)
    main_nav = teammate.get_by_role("navigation", name="Main")
    expect(main_nav.get_by_role("link", name="Settings")).to_have_count(0)

    response = teammate.goto(f"{live_site}/")
    assert response is not None
    assert response.status == 403
    expect(teammate.get_by_role("heading", level=1)).to_have_text("You are not a member of any organisation")
    expect(teammate.get_by_text(ORG_NAME)).to_have_count(0)

    # The audit log records the invitation, the role change and the removal.
    open_settings_section(admin, "Audit log")
    audit = admin.locator("#audit tbody tr")
    created = audit.filter(has=admin.locator("code", has_text=re.compile(r"^invitation\.created$")))
    expect(created).to_have_count(1)
    expect(created).to_contain_text(ADMIN_EMAIL)
    # The details column lists the entry's JSON data, whose key order PostgreSQL's jsonb does not keep.
    expect(created).to_contain_text(f"email: {TEAMMATE_EMAIL}")
    expect(created).to_contain_text("role: member")
    role_changed = audit.filter(has=admin.locator("code", has_text=re.compile(r"^member\.role_changed$")))
    expect(role_changed).to_have_count(1)
    expect(role_changed).to_contain_text(TEAMMATE_EMAIL)
    expect(role_changed).to_contain_text("from: member")
    expect(role_changed).to_contain_text("to: admin")
    removed = audit.filter(has=admin.locator("code", has_text=re.compile(r"^member\.removed$")))
    expect(removed).to_have_count(1)
    expect(removed).to_contain_text(TEAMMATE_EMAIL)
    expect(removed).to_contain_text("role: admin")
