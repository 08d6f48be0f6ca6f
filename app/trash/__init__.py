"""Trash capability."""
