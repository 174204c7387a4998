"""edgepilot."""
