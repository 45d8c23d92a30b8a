"""The per-organisation scoring model: features, win probability, and the logistic regression fitted on outcomes."""

from __future__ import annotations

import math
import re
from typing import Any

from django.db import transaction
from django.db.models import Count

from leadgen.ai.untrusted import normalise_text
from leadgen.tasks import task_send_on_commit
from leadgen.tenancy import org_scope
from prospects.models import (
    Outcome,
    OutcomeResult,
    Prospect,
    ScoringModel,
    Source,
)
from prospects.scoring.grounding import stringify
from prospects.scoring.judges import TIERS

MODEL_BLEND = 0.5
SOURCE_INTENT: dict[str, int] = {
    Source.FORM: 60,
    Source.META: 60,
    Source.GOOGLE: 60,
    Source.API: 40,
    Source.MANUAL: 35,
    Source.DISCOVERY: 30,
    Source.CSV: 25,
}
# A keyword heuristic, not a model: each distinct buying signal in the free-text answers adds points.
INTENT_KEYWORDS = (
    "pricing",
    "price",
    "quote",
    "demo",
    "trial",
    "budget",
    "purchase",
    "buy",
    "contract",
    "proposal",
    "asap",
    "this quarter",
    "this month",
    "timeline",
    "evaluate",
    "evaluating",
    "replace",
    "switch",
    "implement",
    "looking for",
    "need a",
    "urgent",
)
INTENT_POINTS_PER_KEYWORD, INTENT_KEYWORD_CAP = 10, 40

# Feedback loop.
MIN_OUTCOMES = 30
MIN_NEW_OUTCOMES = 5
MIN_PER_CLASS = 3
HELD_OUT_SHARE = 0.3
# A model that ranks held-out outcomes no better than this stays stored but inactive: the defaults keep scoring.
MIN_AUC_TO_ACTIVATE = 0.6

FEATURES = (
    "fit",
    "similarity",
    "judgement",
    "intent",
    "engagement",
    "tier_A",
    "tier_B",
    "tier_C",
    "tier_disqualified",
)


def labelled_outcomes() -> list[tuple[dict[str, float], int]]:
    """(features, won?) per prospect with an outcome and a scored breakdown; the latest outcome counts."""
    latest = (
        Outcome.objects.order_by("prospect_id", "-created_at", "-pk")
        .distinct("prospect_id")
        .values_list("prospect_id", "result")
    )
    labels = {prospect_id: int(result == OutcomeResult.WON) for prospect_id, result in latest}
    rows = Prospect.objects.filter(pk__in=list(labels)).values_list("pk", "score_breakdown")
    out = []
    for pk, breakdown in rows.order_by("pk"):
        features = (breakdown or {}).get("features")
        if isinstance(features, dict):
            out.append(({name: float(features.get(name, 0.0)) for name in FEATURES}, labels[pk]))
    return out


def scoring_model_train(*, org_id: int) -> ScoringModel | None:
    """Fit a logistic regression on outcomes; None (the defaults stay) below MIN_OUTCOMES or with one class."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    with org_scope(org_id):
        data = labelled_outcomes()
        labels = [label for _, label in data]
        if len(data) < MIN_OUTCOMES or min(labels.count(0), labels.count(1)) < MIN_PER_CLASS:
            return None
        matrix = [[features[name] for name in FEATURES] for features, _ in data]
        x_train, x_test, y_train, y_test = train_test_split(
            matrix, labels, test_size=HELD_OUT_SHARE, random_state=0, stratify=labels
        )
        classifier = LogisticRegression(max_iter=1000)
        classifier.fit(x_train, y_train)
        auc = float(roc_auc_score(y_test, classifier.predict_proba(x_test)[:, 1]))
        with transaction.atomic():
            ScoringModel.objects.filter(is_active=True).update(is_active=False)
            return ScoringModel.objects.create(
                org_id=org_id,
                features=list(FEATURES),
                coefficients={
                    name: round(float(value), 6)
                    for name, value in zip(FEATURES, classifier.coef_[0], strict=True)
                },
                intercept=float(classifier.intercept_[0]),
                auc=round(auc, 4),
                trained_on=len(data),
                is_active=auc >= MIN_AUC_TO_ACTIVATE,
            )


def orgs_due_for_training() -> list[int]:
    """Orgs with at least MIN_OUTCOMES outcomes and MIN_NEW_OUTCOMES more than their last model saw."""
    counts = dict(
        Outcome.objects.unscoped()
        .values("org_id")
        .annotate(n=Count("prospect_id", distinct=True))
        .filter(n__gte=MIN_OUTCOMES)
        .values_list("org_id", "n")
    )
    if not counts:
        return []
    last_seen: dict[int, int] = {}
    for org_id, trained_on in (
        ScoringModel.objects.unscoped()
        .filter(org_id__in=list(counts))
        .order_by("org_id", "-created_at", "-pk")
        .distinct("org_id")
        .values_list("org_id", "trained_on")
    ):
        last_seen[org_id] = trained_on
    return sorted(org_id for org_id, n in counts.items() if n - last_seen.get(org_id, 0) >= MIN_NEW_OUTCOMES)


def intent_score(prospect: Prospect) -> dict[str, Any]:
    """Intent from the lead's source and buying words in its free-text answers (a keyword heuristic)."""
    base = SOURCE_INTENT.get(prospect.source, 25)
    text = f" {normalise_text(' '.join(stringify(prospect.answers or {})))} "
    found = [word for word in INTENT_KEYWORDS if re.search(rf"\b{re.escape(word)}\b", text)]
    keyword_points = min(INTENT_KEYWORD_CAP, INTENT_POINTS_PER_KEYWORD * len(found))
    return {
        "score": min(100, base + keyword_points),
        "source": prospect.source,
        "source_points": base,
        "keywords": found,
        "keyword_points": keyword_points,
        "method": "source of the lead plus buying keywords in form answers (keyword heuristic)",
    }


def score_features(
    *, fit: float, similarity: float | None, judgement: float, intent: float, engagement: float, tier: str
) -> dict[str, float]:
    return {
        "fit": round(fit / 100, 4),
        "similarity": round(similarity or 0.0, 4),
        "judgement": round(judgement / 100, 4),
        "intent": round(intent / 100, 4),
        "engagement": round(engagement / 100, 4),
        **{f"tier_{name}": 1.0 if tier == name else 0.0 for name in TIERS},
    }


def active_scoring_model() -> ScoringModel | None:
    return ScoringModel.objects.filter(is_active=True).order_by("-created_at", "-pk").first()


def win_probability(model: ScoringModel, features: dict[str, float]) -> float:
    z = model.intercept + sum(
        float(model.coefficients.get(name, 0.0)) * features.get(name, 0.0) for name in model.features
    )
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, z))))


def scoring_model_train_request(*, org_id: int) -> None:
    """ "Train now" from Settings → Scoring: queued after commit; the model row appears when the worker is done."""
    task_send_on_commit("prospects.scoring.tasks.scoring_model_train_task", org_id)
