# Written by hand: the sending engine's per-message slot and its batched result records as SQL functions, so that
# each message costs one round trip and one commit before its SMTP call (outreach/sending/engine.py).

from django.db import migrations

RECORD = r"""
CREATE OR REPLACE FUNCTION outreach_messages_record(
    p_ids bigint[], p_claimed timestamptz[], p_status text[], p_detail text[], p_at timestamptz[],
    p_until timestamptz[]
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
-- Results of one worker's claimed messages. `sent`, `failed`, `unknown` and `cancelled` also accept a row the
-- sweeper marked `unknown` (a slow send the server then accepted); `queued` (released) only a row still in
-- `sending`. Every write requires the claim's token (`claimed_at`), so a row requeued and claimed again by another
-- worker is never touched.
DECLARE
    changed integer;
BEGIN
    IF coalesce(cardinality(p_ids), 0) = 0 THEN
        RETURN 0;
    END IF;
    UPDATE outreach_message AS m SET
        status = r.status,
        updated_at = r.at,
        sent_at = CASE WHEN r.status = 'sent' THEN r.at ELSE m.sent_at END,
        provider_response = CASE WHEN r.status = 'sent' THEN r.detail ELSE m.provider_response END,
        error = CASE WHEN r.status = 'sent' THEN '' WHEN r.status IN ('failed', 'unknown') THEN r.detail
                     ELSE m.error END,
        hold_reason = CASE WHEN r.status IN ('cancelled', 'queued') THEN r.detail ELSE m.hold_reason END,
        claimed_at = CASE WHEN r.status = 'queued' THEN NULL ELSE m.claimed_at END,
        slot_at = CASE WHEN r.status = 'queued' THEN NULL ELSE m.slot_at END,
        scheduled_at = CASE WHEN r.status = 'queued' THEN r.until ELSE m.scheduled_at END
    FROM unnest(p_ids, p_claimed, p_status, p_detail, p_at, p_until) AS r(id, claimed, status, detail, at, until)
    WHERE m.id = r.id AND m.claimed_at = r.claimed
      AND (m.status = 'sending' OR (m.status = 'unknown' AND r.status <> 'queued'));
    GET DIAGNOSTICS changed = ROW_COUNT;
    RETURN changed;
END
$$;
"""

SLOT = r"""
CREATE OR REPLACE FUNCTION outreach_slot_grant(
    p_org bigint, p_mailbox bigint, p_message bigint, p_claimed timestamptz, p_now timestamptz,
    p_since timestamptz, p_today date, p_email text, p_hash text, p_domain text,
    p_ids bigint[], p_claimed_ats timestamptz[], p_status text[], p_detail text[], p_at timestamptz[],
    p_until timestamptz[]
) RETURNS TABLE (verdict text, next_send_at timestamptz, oldest timestamptz, allowance integer)
LANGUAGE plpgsql VOLATILE AS $$
-- Grant message `p_message` (in `sending`, claimed with token `p_claimed`; NULL: any claim) the next send slot of
-- mailbox `p_mailbox`, after the last checks, or say why not. First writes the results passed in the arrays
-- (outreach_messages_record), so they share this commit.
--
-- Each statement of a VOLATILE function runs on a fresh snapshot (READ COMMITTED): the count of the last 24 hours
-- of slots runs after the mailbox row's lock is granted, so it sees every slot committed by whoever held the lock
-- before. That serialises the gap and the daily allowance per mailbox across every worker process.
DECLARE
    v_prospect bigint;
    v_mailbox record;
    v_allowance integer;
    v_used bigint;
    v_oldest timestamptz;
BEGIN
    PERFORM outreach_messages_record(p_ids, p_claimed_ats, p_status, p_detail, p_at, p_until);

    SELECT m.prospect_id INTO v_prospect FROM outreach_message AS m
    WHERE m.id = p_message AND m.org_id = p_org AND m.status = 'sending'
      AND (p_claimed IS NULL OR m.claimed_at = p_claimed)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'lost'::text, NULL::timestamptz, NULL::timestamptz, NULL::integer;
        RETURN;
    END IF;

    SELECT mb.status, mb.next_send_at, mb.min_interval_seconds, mb.jitter_seconds, mb.daily_limit,
           mb.warmup_start, mb.warmup_increment, mb.warmup_started_on
    INTO v_mailbox FROM outreach_mailbox AS mb WHERE mb.id = p_mailbox AND mb.org_id = p_org
    FOR UPDATE;
    IF NOT FOUND OR v_mailbox.status <> 'active' THEN
        RETURN QUERY SELECT 'paused'::text, NULL::timestamptz, NULL::timestamptz, NULL::integer;
        RETURN;
    END IF;

    IF EXISTS (
        SELECT 1 FROM prospects_suppression AS s
        WHERE s.org_id = p_org AND ((s.kind = 'email' AND s.value = p_email)
            OR (s.kind = 'email_hash' AND s.value = p_hash) OR (s.kind = 'domain' AND s.value = p_domain))
    ) THEN
        RETURN QUERY SELECT 'suppressed'::text, NULL::timestamptz, NULL::timestamptz, NULL::integer;
        RETURN;
    END IF;
    IF v_prospect IS NOT NULL AND EXISTS (
        SELECT 1 FROM prospects_prospect AS p WHERE p.id = v_prospect AND p.do_not_contact
    ) THEN
        RETURN QUERY SELECT 'do_not_contact'::text, NULL::timestamptz, NULL::timestamptz, NULL::integer;
        RETURN;
    END IF;

    IF v_mailbox.min_interval_seconds + v_mailbox.jitter_seconds > 0 AND v_mailbox.next_send_at > p_now THEN
        RETURN QUERY SELECT 'gap'::text, v_mailbox.next_send_at, NULL::timestamptz, NULL::integer;
        RETURN;
    END IF;

    v_allowance := v_mailbox.daily_limit;
    IF v_mailbox.warmup_start > 0 AND v_mailbox.warmup_started_on IS NOT NULL THEN
        v_allowance := least(
            v_mailbox.daily_limit,
            v_mailbox.warmup_start + greatest(0, p_today - v_mailbox.warmup_started_on) * v_mailbox.warmup_increment
        );
    END IF;
    SELECT count(*), min(m.slot_at) INTO v_used, v_oldest FROM outreach_message AS m
    WHERE m.org_id = p_org AND m.mailbox_id = p_mailbox AND m.slot_at > p_since;
    IF v_used >= v_allowance THEN
        RETURN QUERY SELECT 'limit'::text, NULL::timestamptz, v_oldest, v_allowance;
        RETURN;
    END IF;

    UPDATE outreach_message SET slot_at = p_now, updated_at = p_now WHERE id = p_message;
    UPDATE outreach_mailbox
    SET next_send_at = p_now + make_interval(
        secs => v_mailbox.min_interval_seconds + random() * v_mailbox.jitter_seconds)
    WHERE id = p_mailbox;
    RETURN QUERY SELECT 'ok'::text, NULL::timestamptz, NULL::timestamptz, v_allowance;
END
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS outreach_slot_grant(
    bigint, bigint, bigint, timestamptz, timestamptz, timestamptz, date, text, text, text,
    bigint[], timestamptz[], text[], text[], timestamptz[], timestamptz[]);
DROP FUNCTION IF EXISTS outreach_messages_record(
    bigint[], timestamptz[], text[], text[], timestamptz[], timestamptz[]);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("outreach", "0004_compose_settings_drafts"),
        ("prospects", "0006_status_and_tier_choices"),
    ]

    operations = [migrations.RunSQL(RECORD + SLOT, DROP)]
