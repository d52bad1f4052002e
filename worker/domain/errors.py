"""Errors the domain and its entrypoints share."""


class InvalidInput(ValueError):
    """Input that can never be acted on; `field` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ServiceUnavailable(RuntimeError):
    """Redis or the broker cannot be reached: the caller should retry later."""
