"""Errors raised by the search package."""

from __future__ import annotations


class SearchError(Exception):
    """A search operation failed."""


class SearchUnavailable(SearchError):
    """The search backend cannot be reached or used right now (the message says why)."""


class InvalidQuery(SearchError, ValueError):
    """The query's parameters cannot be served (bad page, sort, facet or org path)."""
