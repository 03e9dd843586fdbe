"""Structured JSON logs with the call id bound and personal data masked.

Every line is one JSON object. Entry points bind ``call_id``, ``service``, ``entrypoint`` and
the ``city`` they work for; the kernel's per-call line adds ``outcome`` and ``duration_ms``.
Phone numbers and addresses are masked wherever they appear, including in messages of
exceptions and in nameko's own (stdlib) log records.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
# A mobile number as people write it: an optional +86 / 0086 prefix, and spaces, dots or
# dashes between the groups (``+86 138-1234-5678``, ``138 1234 5678``).
_WRITTEN_MOBILE = re.compile(
    r"(?<![\d+])(?:(?:\+|00)86[\s.-]?)?(1[3-9]\d)[\s.-]?(\d{4})[\s.-]?(\d{4})(?!\d)"
)
# Resident identity card numbers: region, birth date, serial and a check digit or X (18), or
# the old 15-digit form with a two-digit year; the date parts keep other numbers out.
_DATE = r"(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
_ID_CARD = re.compile(
    rf"(?<![\dA-Za-z])(\d{{6}})((?:19|20)\d{{2}}{_DATE}\d{{3}}[\dXx]|\d{{2}}{_DATE}\d{{3}})"
    r"(?![\dA-Za-z])"
)
_SENSITIVE_KEYS = {
    "phone",
    "mobile",
    "address",
    "beneficiary",
    "requester",
    "authorization",
    "id_card",
}


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``; anything else keeps only its last four characters."""
    match = _MOBILE.fullmatch(phone)
    if match:
        return f"{match.group(1)}****{match.group(3)}"
    return "****" + phone[-4:] if len(phone) > 4 else "****"


def mask_text(text: str) -> str:
    """Mask every mainland mobile number (however written) and identity card number inside
    ``text``."""
    text = _WRITTEN_MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _ID_CARD.sub(
        lambda m: f"{m.group(1)}{'*' * (len(m.group(2)) - 4)}{m.group(2)[-4:]}", text
    )


def mask_value(key: str, value: Any) -> Any:
    """Mask ``value`` if ``key`` names personal data, and any phone number inside it."""
    if key.lower() in _SENSITIVE_KEYS:
        if isinstance(value, str) and key.lower() in {"phone", "mobile"}:
            return mask_phone(value)
        return "***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value("", v) for v in value]
    return value


def _mask_processor(_logger, _name, event_dict: dict[str, Any]) -> dict[str, Any]:
    return {key: mask_value(key, value) for key, value in event_dict.items()}


_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


class _StdoutLogger:
    """Writes rendered lines to whatever ``sys.stdout`` is now (test runners swap it)."""

    def __init__(self, *_args: Any) -> None:
        pass

    def msg(self, message: str) -> None:
        out = sys.stdout
        out.write(message + "\n")
        out.flush()

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
_configured = False


def configure(level: str = "INFO") -> None:
    """Send structlog and stdlib logging to stdout as masked JSON lines (idempotent).

    Our own lines go straight from structlog to stdout (one per call, so the stdlib handler
    chain would be a measurable share of a cheap RPC); stdlib records (nameko, kombu) are
    rendered the same way through a handler.
    """
    global _configured
    renderer = structlog.processors.JSONRenderer(ensure_ascii=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _mask_processor,
            renderer,
        ],
        logger_factory=_StdoutLogger,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level.upper(), 20)),
        cache_logger_on_first_use=False,
    )
    if not _configured:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=_SHARED,
                processors=[
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    _mask_processor,
                    renderer,
                ],
            )
        )
        root = logging.getLogger()
        root.handlers[:] = [handler]
        _configured = True
    logging.getLogger().setLevel(level)
    # nameko logs every expected contract error with a traceback at WARNING; our per-call line
    # already records the outcome, so keep only its real errors.
    logging.getLogger("nameko.containers").setLevel(logging.ERROR)
    for noisy in ("kombu", "amqp", "alembic.runtime.migration", "nameko.web.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(**bound: Any) -> Any:
    """A logger with ``bound`` values on every line."""
    return structlog.get_logger("pioneer").bind(**bound)
