"""One small error tree. Expected outcomes (a 304, an empty feed, a failed send) are values, not errors.

``UsageError`` carries the text a user sees: it says what is wrong and what to do about it. Front ends
(CLI, Slack, Discord) print or post ``str(error)`` as it is and exit 2 / answer ephemerally.
"""

from __future__ import annotations


class WirewatchError(Exception):
    """Base of every error wirewatch raises on purpose."""


class UsageError(WirewatchError):
    """The user asked for something malformed or impossible; the message tells them how to fix it."""


class QueryError(UsageError):
    """A watch query does not parse. ``column`` is 1-based, pointing at the offending character."""

    def __init__(self, message: str, query: str = "", column: int | None = None):
        self.query = query
        self.column = column
        if column is not None and query:
            pointer = " " * (column - 1) + "^"
            message = f"{message} (column {column})\n  {query}\n  {pointer}"
        super().__init__(message)


class ConfigError(UsageError):
    """A setting is missing or malformed; the message names the variable."""


class NotFound(UsageError):
    """A feed, watch or delivery the user named does not exist."""
