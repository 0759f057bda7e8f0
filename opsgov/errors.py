"""Domain errors raised by services; the API turns them into 400s with field paths."""

from __future__ import annotations


class DomainError(Exception):
    """A request that breaks a business rule. `field` names the input it concerns, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
