"""Errors raised by clients/ modules, shared by every engine client.

TransientError: worth retrying later (engine down, timeout, dropped stream).
PermanentError: retrying the same request cannot help (model missing, invalid
workflow). Both carry a message a user can act on.
"""


class EngineError(Exception):
    def __init__(self, message: str, *, detail: dict | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail or {}

    def __str__(self) -> str:
        return self.message


class TransientError(EngineError):
    pass


class PermanentError(EngineError):
    pass
