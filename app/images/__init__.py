"""Images capability."""
