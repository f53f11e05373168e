from tests.security.support import deployed, who

__all__ = ["deployed", "who"]
