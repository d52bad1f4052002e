"""Errors the domain and its entrypoints share."""


class InvalidInput(ValueError):
    """Input that can never be acted on; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ServiceUnavailable(RuntimeError):
    """Redis or the broker cannot be reached: the caller should retry later."""


class Forbidden(PermissionError):
    """The caller may not do this; `field` names the part of the request that is not theirs to set."""

    def __init__(self, message: str, field: str | None = None, reason: str = "forbidden") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.reason = reason
