"""cockpit."""
