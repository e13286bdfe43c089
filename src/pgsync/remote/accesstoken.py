"""The access token: the variable it comes from, and how it is kept out of every log line.

Apart from the HTTP client so that commands which never talk to the API (validate,
`--help`) need not import httpx to read or redact it.
"""

from __future__ import annotations

import logging

from pgsync.core.escaping import escape_lines
from pgsync.core.masking import scrub

TOKEN_ENV = "PULUMI_ACCESS_TOKEN"
REDACTED = "<redacted>"


class TokenFilter(logging.Filter):
    """Scrubs the token and the run's secrets from every log record, whatever logger wrote it
    (httpx included), and escapes the invisible characters a server may have put in it."""

    def __init__(self, token: str | None) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = escape_lines(scrub(redact_token(record.getMessage(), self.token)))
        record.args = None
        return True


def redact_token(text: str, token: str | None) -> str:
    """`text` with every occurrence of the access token (if there is one) redacted."""
    return text.replace(token, REDACTED) if token else text
