"""CRM sync (HubSpot, Salesforce, any CRM through a signed outcomes hook): push prospects, pull outcomes.

A wing of `prospects`: it needs nothing from outreach or campaigns. The push is triggered by qualification routing
(`prospects.routing.services`), by hand on the prospect page, in bulk from the list, or by the API; outcomes come
back by webhook or by a periodic poll and go through `prospects.services.outcome_record`.
"""
