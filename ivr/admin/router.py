"""The console's routes under ``/admin``, mounted by :func:`ivr.api.create_app`."""

from __future__ import annotations

from fastapi import APIRouter

from ivr.admin import views_auth, views_calls, views_insight, views_missed, views_rule_cards, views_rules

router = APIRouter(prefix="/admin", tags=["console"], include_in_schema=False)
router.include_router(views_auth.router)
router.include_router(views_calls.router)
router.include_router(views_rules.router)
router.include_router(views_rule_cards.router)
router.include_router(views_insight.router)
router.include_router(views_missed.router)
