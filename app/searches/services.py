"""Registrant search on indexed SQL (S-A2). The one place that turns criteria into a SELECT.

Mail (a saved search or the current criteria as audience), exports and reports all call
`matching_ids` / `search_statement`, so every consumer sees exactly the rows on screen.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.registrants.models import Registrant


class SearchError(ValueError):
    """Criteria that cannot be used; the message is shown to the user as is (Japanese first)."""


def matching_ids(session: Session, criteria: dict[str, Any]) -> sa.Select[Any]:
    """A SELECT of registrant ids matching `criteria` (the dict form stored in SavedSearch.criteria)."""
    raise NotImplementedError  # implemented with the search screen


def search_statement(criteria: dict[str, Any], sort: str = "") -> sa.Select[Any]:
    """A SELECT of Registrant rows matching `criteria`, in the requested order."""
    del criteria, sort
    return sa.select(Registrant)
