"""Offline training claims and their review steps."""
