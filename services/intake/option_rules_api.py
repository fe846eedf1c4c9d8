"""``GET /api/v1/option-rules``: what each source/target pair can migrate, for the web form.

The pages read the rules from here rather than keeping a copy of them (they follow from the systems in
shared/adapters/registry.py), so the form never offers an option that ``POST /api/v1/migrations`` or the
PST upload would refuse.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from shared.adapters import registry
from shared.migration_state import OPERATIONS


class OptionRules(BaseModel):
    operations: list[str] = Field(description="every option, in the fixed order the operations run in")
    options: dict[str, dict[str, list[str]]] = Field(
        description="source type (pst for an uploaded file) → target type → the options this pair can take")


def option_rules_router() -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/option-rules", response_model=OptionRules)
    async def get_option_rules() -> OptionRules:
        """Which options each source/target pair can take in this version."""
        return OptionRules(operations=list(OPERATIONS), options=registry.table())

    return router
