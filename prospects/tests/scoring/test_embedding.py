"""Profile texts, stored vectors, ICP vectors and org-filtered similarity search, on the real offline model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from django.db import connection

from conftest import Tenant, make_tenant
from leadgen.ai.embeddings import embed_texts
from prospects.models import ICP, ProspectEmbedding
from prospects.scoring.embedding import (
    company_text,
    icp_embed,
    icp_matches,
    icp_similarities,
    nearest_prospects,
    person_text,
    profile_parts,
    prospects_embed,
)
from prospects.tests.factories import CompanyFactory, ProspectFactory, QualificationFactory


def _engineer(tenant: Tenant, **kwargs: Any):  # type: ignore[no-untyped-def]
    company = CompanyFactory(
        org=tenant.org,
        name="Cloudstack",
        industry="Computer Software",
        employee_count=250,
        technologies=["Python", "Kubernetes"],
        description="Developer platform for deploying cloud applications.",
    )
    defaults = {"title": "VP of Engineering", "seniority": "vp", "company": company, "location": "Berlin"}
    return ProspectFactory(org=tenant.org, **{**defaults, **kwargs})


def _baker(tenant: Tenant):  # type: ignore[no-untyped-def]
    company = CompanyFactory(
        org=tenant.org,
        name="Crumbs",
        industry="Food & Beverages",
        employee_count=6,
        description="Family bakery.",
    )
    return ProspectFactory(org=tenant.org, title="Head Baker", company=company, location="Lyon")


@pytest.mark.django_db
def test_profile_text_is_compact_and_deterministic(tenant: Tenant) -> None:
    prospect = _engineer(tenant, first_name="Ada", last_name="Lovelace", department="Engineering")
    text = "\n".join(profile_parts(prospect))
    assert profile_parts(prospect) == profile_parts(prospect)
    # The name carries no fit signal: it is not embedded.
    assert "Ada" not in text and "Lovelace" not in text
    assert "Role: VP of Engineering (vp, Engineering)" in text
    assert "Computer Software; 250 employees" in text
    assert "Technologies: Python, Kubernetes" in text
    prospect.company.about_text = "word " * 1000
    assert len("\n".join(profile_parts(prospect))) < 900


@pytest.mark.django_db
def test_embedding_is_skipped_while_the_profile_is_unchanged(tenant: Tenant) -> None:
    prospects = [_engineer(tenant), _baker(tenant)]
    ids = [p.pk for p in prospects]
    with tenant.scope():
        assert prospects_embed(prospect_ids=ids) == 2
        first = ProspectEmbedding.objects.get(prospect=prospects[0])
        assert first.provider == "local-minilm" and len(first.vector) == 384
        assert prospects_embed(prospect_ids=ids) == 0
        prospects[0].title = "Chief Technology Officer"
        prospects[0].save()
        assert prospects_embed(prospect_ids=ids) == 1
        again = ProspectEmbedding.objects.get(prospect=prospects[0])
        assert again.text_hash != first.text_hash
        assert not np.allclose(again.vector, first.vector)


@pytest.mark.django_db
def test_role_and_company_weigh_equally_and_a_company_is_embedded_once(tenant: Tenant) -> None:
    """A long company description must not drown the job title. Embedded as one text, these two profiles score
    the same against the ICP (0.389 and 0.391: 130 word pieces of company prose outweigh the title); embedded in
    two halves, the CTO ranks first."""
    cto = _engineer(tenant, title="Chief Technology Officer", seniority="c_level", department="Engineering")
    cto.company.about_text = "We deploy and operate cloud software for enterprise customers. " * 40
    cto.company.save()
    accountant = ProspectFactory(
        org=tenant.org, company=cto.company, title="Accounts Payable Clerk", department="Finance"
    )
    with tenant.scope():
        icp = ICP.objects.create(
            name="Tech buyers", description="CTOs and VPs of Engineering who choose tools"
        )
        sims = icp_similarities(icp=icp, prospect_ids=[cto.pk, accountant.pk])
        stored = ProspectEmbedding.objects.get(prospect=cto)
    assert sims[cto.pk] - sims[accountant.pk] > 0.01
    person_v, company_v = embed_texts([person_text(cto), company_text(cto.company)]).vectors
    expected = person_v / np.linalg.norm(person_v) + company_v / np.linalg.norm(company_v)
    assert np.allclose(np.asarray(stored.vector), expected / np.linalg.norm(expected), atol=1e-5)
    # The company's half is cached for its other people (and the next batch).
    assert len(_cache_keys()) == 1


def _cache_keys() -> list[str]:
    from django.core.cache import cache

    client = cache._cache.get_client()  # type: ignore[attr-defined]
    return [key.decode() for key in client.keys("*profile-company-vector*")]


@pytest.mark.django_db
def test_icp_vector_is_the_renormalised_mean_of_description_and_examples(tenant: Tenant) -> None:
    example = _engineer(tenant)
    with tenant.scope():
        icp = ICP.objects.create(name="Eng leaders", description="Engineering leaders at software companies")
        icp_embed(icp=icp)
        alone = np.asarray(icp.embedding)
        assert abs(np.linalg.norm(alone) - 1) < 1e-5
        first_hash = icp.embedding_hash
        icp_embed(icp=icp)
        assert icp.embedding_hash == first_hash

        icp.example_prospect_ids = [example.pk]
        icp.save()
        icp_embed(icp=icp)
        icp.refresh_from_db()
        assert icp.embedding_hash != first_hash
        icp_v, person_v, company_v = embed_texts(
            [
                "Ideal customer: Eng leaders\nEngineering leaders at software companies",
                person_text(example),
                company_text(example.company),
            ]
        ).vectors
        unit = [v / np.linalg.norm(v) for v in (icp_v, person_v, company_v)]
        example_v = unit[1] + unit[2]
        example_v /= np.linalg.norm(example_v)
        expected = unit[0] + example_v
        expected /= np.linalg.norm(expected)
        assert np.allclose(np.asarray(icp.embedding), expected, atol=1e-5)


@pytest.mark.django_db
def test_similarity_ranks_the_fitting_prospect_first_with_the_real_model(tenant: Tenant) -> None:
    engineer, baker = _engineer(tenant), _baker(tenant)
    with tenant.scope():
        icp = ICP.objects.create(
            name="Platform buyers",
            description="Engineering leaders (VP Engineering, CTO) at B2B software companies running in the cloud",
        )
        sims = icp_similarities(icp=icp, prospect_ids=[engineer.pk, baker.pk])  # embeds both on the way
        assert 0 <= sims[baker.pk] < sims[engineer.pk] <= 1
        assert sims[engineer.pk] - sims[baker.pk] > 0.15
        matches = icp_matches(icp=icp, limit=10)
        assert [m.prospect.pk for m in matches] == [engineer.pk, baker.pk]
        assert matches[0].score is None and matches[0].similarity == pytest.approx(
            sims[engineer.pk], abs=1e-5
        )


def _random_unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 384)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _seed_vectors(tenant: Tenant, vectors: np.ndarray) -> list[int]:
    prospects = [ProspectFactory(org=tenant.org) for _ in range(len(vectors))]
    ProspectEmbedding.objects.unscoped().bulk_create(
        ProspectEmbedding(org=tenant.org, prospect=p, vector=v, text_hash="x", provider="test", model="test")
        for p, v in zip(prospects, vectors, strict=True)
    )
    return [p.pk for p in prospects]


@pytest.mark.django_db
def test_org_filtered_search_returns_the_full_k_for_a_small_org_among_a_big_one(tenant: Tenant) -> None:
    """HNSW alone stops after ef_search candidates, nearly all of the big org's; iterative scans keep going."""
    rng = np.random.default_rng(4)
    big = make_tenant("Big")
    query = _random_unit(rng, 1)[0]
    # The big org sits right around the query; the small org is far away, so the index meets it last.
    near = query + 0.35 * _random_unit(rng, 2000)
    _seed_vectors(big, near / np.linalg.norm(near, axis=1, keepdims=True))
    small_ids = _seed_vectors(tenant, _random_unit(rng, 60))
    with connection.cursor() as cursor:
        # A small org is found through its org_id index and an exact sort, which is always complete. At scale the
        # planner takes the HNSW index instead; drop the org indexes (inside the test's transaction) and disable
        # sequential scans so this test takes that path too.
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'prospects_prospectembedding' "
            "AND indexdef LIKE '%%(org_id%%'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("ANALYZE prospects_prospectembedding")
        cursor.execute("SET LOCAL enable_seqscan = off")

    def search(mode: str) -> list[int]:
        hits = nearest_prospects(
            vector=query, limit=50, org_id=tenant.org.pk, iterative_scan=mode, ef_search=40
        )
        return [h.prospect_id for h in hits]

    assert len(search("off")) < 50  # the failure iterative scans exist for
    exact = sorted(
        small_ids,
        key=lambda pid: (
            -float(np.dot(query, ProspectEmbedding.objects.unscoped().get(prospect_id=pid).vector))
        ),
    )[:50]
    for mode in ("relaxed_order", "strict_order"):
        found = search(mode)
        assert len(found) == 50
        assert found == exact


@pytest.mark.django_db
def test_matches_put_judged_prospects_first_and_respect_min_score(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    engineer, baker = _engineer(tenant), _baker(tenant)
    _engineer(other_tenant)
    with tenant.scope():
        icp = ICP.objects.create(name="Bakers", description="Owners of small bakeries")
        prospects_embed(prospect_ids=[engineer.pk, baker.pk])
        QualificationFactory(
            org=tenant.org, prospect=engineer, icp=icp, score=81, tier="A", similarity=0.4, reasoning="Fits."
        )
        matches = icp_matches(icp=icp, limit=10)
        assert [(m.prospect.pk, m.score, m.tier) for m in matches] == [
            (engineer.pk, 81, "A"),
            (baker.pk, None, None),
        ]
        assert [m.prospect.pk for m in icp_matches(icp=icp, min_score=90)] == []
        assert [m.prospect.pk for m in icp_matches(icp=icp, min_score=80)] == [engineer.pk]
        assert len(icp_matches(icp=icp, limit=1)) == 1


# --- the Celery tasks, on a real worker ----------------------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 60.0) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_tasks_embed_prospects_and_icps_on_the_ai_queue(transactional_db: None, celery_worker: Any) -> None:
    from django.db import transaction

    from leadgen.tasks import task_send_on_commit
    from prospects.icps.services import icp_create, icp_update

    tenant = make_tenant("Worker")
    prospects = [_engineer(tenant), _baker(tenant)]
    with tenant.scope():
        with transaction.atomic():
            task_send_on_commit(
                "prospects.scoring.tasks.pipeline_embed_task",
                tenant.org.pk,
                [p.pk for p in prospects],
                None,
                [],
            )
            icp = icp_create(data={"name": "Eng", "description": "Engineering leaders"})
        _wait_for(lambda: ProspectEmbedding.objects.count() == 2)
        _wait_for(lambda: ICP.objects.filter(pk=icp.pk, embedding__isnull=False).exists())
        first_hash = ICP.objects.get(pk=icp.pk).embedding_hash
        with transaction.atomic():
            icp_update(icp=ICP.objects.get(pk=icp.pk), data={"description": "Bakers"})
        assert (
            ICP.objects.get(pk=icp.pk).embedding is None
            or ICP.objects.get(pk=icp.pk).embedding_hash != first_hash
        )
        _wait_for(
            lambda: (
                ICP.objects.filter(pk=icp.pk, embedding__isnull=False)
                .exclude(embedding_hash=first_hash)
                .exists()
            )
        )
