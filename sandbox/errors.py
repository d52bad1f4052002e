"""Twilio-shaped errors.

Twilio answers a failed REST call with a JSON body
``{"code": 20404, "message": "...", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}``;
the `twilio` library turns it into `TwilioRestException(status, uri, msg, code)`.
"""

from __future__ import annotations

# The codes the sandbox answers with (Twilio's error dictionary).
INVALID_PARAMETER = 20001  # 400: a parameter is invalid / not allowed in this state
AUTHENTICATE = 20003  # 401
NOT_FOUND = 20404  # 404
METHOD_NOT_ALLOWED = 20004  # 405
PRECONDITION_FAILED = 20412  # 412: If-Match does not match the task's ETag
TOO_MANY_REQUESTS = 20429  # 429
INTERNAL_ERROR = 20500  # 500
NOT_MODELLED = 20501  # 501: a real Twilio operation the sandbox does not model
CONVERSATION_CLOSED = 50377  # "Can't update conversation as it's in final closed state"
INITIAL_STATE_CLOSED = 50384  # "Initial state can't be 'closed'"
PARTICIPANT_EXISTS = 50433  # participant with this identity already in the conversation


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.status, self.code, self.message)


def error_body(status: int, code: int, message: str) -> dict:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def not_found(what: str = "The requested resource was not found") -> TwilioError:
    return TwilioError(404, NOT_FOUND, what)


def bad_request(message: str, code: int = INVALID_PARAMETER) -> TwilioError:
    return TwilioError(400, code, message)
