"""Audit trail of what administrators change: who, what, when, before and after."""
