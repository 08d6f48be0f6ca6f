"""Purge capability."""
