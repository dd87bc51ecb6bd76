"""Accounts: the org tree, users, roles, sign-in and API tokens."""
