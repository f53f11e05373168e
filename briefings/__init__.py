"""briefings: the shared runtime, the CLI and the tools around the four services."""
