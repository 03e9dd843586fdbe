"""The contract's error types.

A failed call reaches the caller as ``nameko.exceptions.RemoteError`` whose ``exc_type`` is
the class name of one of these. Every entrypoint declares them as ``expected_exceptions`` so
nameko logs them as outcomes, not crashes, and the metrics label them by name.
"""

from __future__ import annotations


class PioneerError(Exception):
    """Base of every error a caller may see."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(PioneerError):
    """Bad input; the message names the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class NotFound(PioneerError):
    """No such record."""


class Conflict(PioneerError):
    """The current state does not allow it: already claimed, capacity full, duplicate."""


class Unauthorized(PioneerError):
    """No token, an invalid one, or an expired one."""


class Forbidden(PioneerError):
    """The caller's role or city does not allow this."""


class WrongCity(PioneerError):
    """The record lives in another city's deployment; the message names that city."""

    def __init__(self, city: str, what: str = "record") -> None:
        super().__init__(f"{what} belongs to city '{city}', served by another deployment")
        self.city = city


class Suspended(PioneerError):
    """The volunteer is suspended or removed."""


CONTRACT_ERRORS: tuple[type[PioneerError], ...] = (
    ValidationError,
    NotFound,
    Conflict,
    Unauthorized,
    Forbidden,
    WrongCity,
    Suspended,
)
