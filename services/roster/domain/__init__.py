"""Pure roster rules: ``decide_*(state, command, ...) -> events`` and ``evolve(state, event)``."""
