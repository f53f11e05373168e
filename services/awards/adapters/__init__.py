"""Awards adapters: SQL views of its own and the roster stream, the reporting client."""
