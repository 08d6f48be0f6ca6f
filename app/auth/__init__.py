"""Auth capability."""
