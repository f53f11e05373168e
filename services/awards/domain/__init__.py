"""Pure awards domain: the award aggregate, the roster as the awards context sees it, proposals."""
