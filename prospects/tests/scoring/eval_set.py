"""An evaluation set for the rules judge: three ICPs and labelled prospects, the way a sales rep would label them.

Titles are real-world ones (SDR, BDR, Account Executive, VP Sales, CRO, Head of Growth, Marketing Intern, Staff
Engineer, CTO ...), most without a seniority (a CSV export rarely has one), and industries are spelled the way
different sources spell them: LinkedIn's industry names (old and 2022 versions), Apollo's lower-case ones and
NAICS-style labels. A case is a fit when a good SDR would want it in the ICP's call list: the right function, senior
enough, in the right kind of company. Everything is built unsaved (no database): the rules judge reads attributes only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prospects.models import ICP, Company, Prospect


@dataclass(frozen=True)
class Case:
    title: str
    industry: str
    employees: int | None
    fit: bool
    seniority: str = ""
    location: str = ""


EVAL_ICPS: dict[str, dict[str, Any]] = {
    "revenue": {
        "name": "Revenue leaders",
        "description": "Sales and revenue leaders at mid-size software companies.",
        "criteria": {
            "industries": ["Computer Software"],
            "employee_min": 50,
            "employee_max": 1000,
            "seniorities": ["vp", "head", "director", "c_suite"],
            "title_keywords": ["sales", "revenue"],
        },
    },
    "fintech_engineering": {
        "name": "Engineering leaders at fintechs",
        "description": "Engineering and technology leaders at financial technology companies.",
        "criteria": {
            "industries": ["Financial Services", "Fintech"],
            "employee_min": 20,
            "seniorities": ["vp", "head", "director", "c_suite"],
            "title_keywords": ["engineering", "technology", "platform"],
        },
    },
    # Deliberately loose: three criteria, no size.
    "ecommerce_marketing": {
        "name": "Marketing heads in e-commerce",
        "description": "Heads of marketing and growth at online retailers.",
        "criteria": {
            "industries": ["E-commerce"],
            "seniorities": ["head", "vp", "director", "c_suite"],
            "title_keywords": ["marketing", "growth", "brand"],
        },
    },
}

EVAL_CASES: dict[str, list[Case]] = {
    "revenue": [
        Case("VP Sales", "Software Development", 300, True),
        Case("Chief Revenue Officer", "SaaS", 450, True),
        Case("CRO", "computer software", 200, True),
        Case("Head of Sales", "Software", 120, True),
        Case("Vice President of Sales, EMEA", "Enterprise Software", 800, True),
        Case("Director of Sales", "Computer Software", 90, True, seniority="director"),
        Case("Head of Revenue Operations", "Software Publishers", 350, True),
        Case("SVP, Global Sales", "Software", 900, True),
        Case("VP of Revenue", "Software Development", 60, True),
        Case("Regional Sales Director", "SaaS", 400, True),
        Case("Chief Commercial Officer", "Computer Software", 700, True),
        Case("Sales Director DACH", "Software Development", 150, True),
        Case("Chief Revenue Officer", "", None, True),
        Case("Sales Development Representative", "Computer Software", 300, False),
        Case("Business Development Representative", "Software", 200, False),
        Case("SDR", "Software Development", 250, False, seniority="entry"),
        Case("Account Executive", "SaaS", 400, False),
        Case("Sales Intern", "Software Development", 250, False),
        Case("Sales Assistant", "Computer Software", 100, False),
        Case("Chief Technology Officer", "Software", 300, False),
        Case("VP Sales", "Hospital & Health Care", 400, False),
        Case("Head of Sales", "Logistics and Supply Chain", 500, False),
        Case("VP Sales", "Computer Software", 12000, False),
        Case("Staff Engineer", "Software Development", 300, False),
        Case("Sales Operations Analyst", "SaaS", 200, False),
        Case("Retail Sales Associate", "Retail", 3000, False),
        Case("Inside Sales Representative", "Computer Software", 150, False),
        Case("Marketing Manager", "Software", 300, False),
        Case("Director of Sales", "Restaurants", 80, False),
        Case("Account Manager", "Software Development", 300, False),
        Case("Sales Development Representative", "", None, False),
    ],
    "fintech_engineering": [
        Case("CTO", "Financial Services", 300, True),
        Case("VP Engineering", "Fintech", 120, True),
        Case("Head of Engineering", "Banking", 2000, True),
        Case("Director of Platform Engineering", "Financial Technology", 500, True),
        Case("VP of Engineering", "Finance and Insurance", 800, True),
        Case("Engineering Director", "Capital Markets", 250, True),
        Case("SVP Technology", "banking", 5000, True, seniority="vp"),
        Case("Head of Platform", "FinTech", 80, True),
        Case("Chief Information Officer", "Financial Services", 1500, True),
        Case("Director, Software Engineering", "Investment Banking", 3000, True),
        Case("Co-founder & CTO", "Financial Technology", 40, True),
        Case("Chief Technology Officer", "Payments", 220, True),
        Case("Software Engineer", "Fintech", 200, False),
        Case("Staff Engineer", "Financial Services", 400, False),
        Case("Engineering Manager", "Fintech", 150, False),
        Case("QA Intern", "Banking", 1000, False),
        Case("VP Engineering", "Computer Games", 300, False),
        Case("CTO", "Hospitality", 150, False),
        Case("VP Sales", "Financial Services", 300, False),
        Case("Head of Marketing", "Fintech", 200, False),
        Case("Technical Recruiter", "Financial Services", 500, False),
        Case("IT Support Specialist", "Banking", 2500, False),
        Case("Chief Financial Officer", "Financial Services", 300, False),
        Case("Director of Engineering", "Construction", 400, False),
        Case("Junior Developer", "FinTech", 60, False),
        Case("Platform Engineering Associate", "Financial Technology", 300, False),
    ],
    "ecommerce_marketing": [
        Case("Head of Growth", "Online Retail", 150, True),
        Case("VP Marketing", "E-Commerce", 400, True),
        Case("Chief Marketing Officer", "Online and Mail Order Retail", 900, True),
        Case("CMO", "Ecommerce", 200, True),
        Case("Director of Brand Marketing", "Internet Marketplace Platforms", 300, True),
        Case("Head of Performance Marketing", "e-commerce", 60, True),
        Case("Marketing Director", "Electronic Shopping and Mail-Order Houses", 500, True),
        Case("VP Growth", "Direct-to-Consumer", 120, True),
        Case("Director of Growth Marketing", "Online Retail", 1000, True),
        Case("Chief Growth Officer", "E-Commerce", 250, True),
        Case("Head of CRM & Lifecycle Marketing", "Ecommerce", 180, True),
        Case("Head of Marketing", "", None, True),
        Case("Marketing Intern", "E-commerce", 300, False),
        Case("Marketing Coordinator", "Online Retail", 200, False),
        Case("Marketing Assistant", "Ecommerce", 100, False),
        Case("Growth Marketing Associate", "E-Commerce", 150, False),
        Case("VP Marketing", "Oil & Energy", 2000, False),
        Case("Head of Marketing", "Law Practice", 50, False),
        Case("CTO", "E-commerce", 300, False),
        Case("Head of Logistics", "Online Retail", 600, False),
        Case("Social Media Manager", "E-Commerce", 80, False),
        Case("Brand Ambassador", "Ecommerce", 40, False),
        Case("Director of Marketing", "Medical Devices", 300, False),
        Case("Customer Support Lead", "E-commerce", 200, False),
        Case("Product Marketing Manager", "Online Retail", 400, False, seniority="manager"),
        Case("Marketing Intern", "", None, False),
    ],
}


def eval_icp(key: str) -> ICP:
    spec = EVAL_ICPS[key]
    return ICP(name=spec["name"], description=spec["description"], criteria=spec["criteria"])


def eval_prospect(case: Case, index: int) -> Prospect:
    company = (
        None
        if not case.industry and case.employees is None
        else Company(name=f"Company {index}", industry=case.industry, employee_count=case.employees)
    )
    prospect = Prospect(
        first_name="Eval",
        last_name=str(index),
        email=f"eval{index}@company{index}.test",
        title=case.title,
        seniority=case.seniority,
        location=case.location,
    )
    prospect.company = company
    return prospect


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The chance a random fit outscores a random misfit (ties count half)."""
    fits = [s for s, fit in zip(scores, labels, strict=True) if fit]
    misfits = [s for s, fit in zip(scores, labels, strict=True) if not fit]
    wins = sum(1.0 if f > m else 0.5 if f == m else 0.0 for f in fits for m in misfits)
    return wins / (len(fits) * len(misfits))


def ndcg_at(k: int, scores: Sequence[float], labels: Sequence[bool]) -> float:
    """NDCG@k with binary relevance. Ties are broken pessimistically (misfits first), so a judge that gives
    everyone the same score gets no credit for the order the cases happen to be listed in."""
    ranked = sorted(zip(scores, labels, strict=True), key=lambda pair: (-pair[0], pair[1]))
    dcg = sum(1 / math.log2(rank + 2) for rank, (_, fit) in enumerate(ranked[:k]) if fit)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, sum(labels))))
    return dcg / ideal if ideal else 0.0


def evaluate(judge: Callable[[Prospect, ICP], float]) -> dict[str, dict[str, float]]:
    """AUC and NDCG@10 per ICP for a judge that maps (prospect, ICP) to a score."""
    figures: dict[str, dict[str, float]] = {}
    for key, cases in EVAL_CASES.items():
        icp = eval_icp(key)
        scores = [judge(eval_prospect(case, i), icp) for i, case in enumerate(cases)]
        labels = [case.fit for case in cases]
        figures[key] = {
            "auc": round(roc_auc(scores, labels), 3),
            "ndcg@10": round(ndcg_at(10, scores, labels), 3),
            "cases": len(cases),
        }
    return figures
