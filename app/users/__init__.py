"""Users capability."""
