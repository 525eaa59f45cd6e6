"""Masking of personal data in bot messages, stored questions and logs.

Members paste their email, phone, member id, date of birth and sometimes card numbers
into the chat. The bot repeats some of them back ("we will call you on +32 *** ** 68")
and everything it logs or keeps for analytics must not contain them in clear, because
logs and analytics live longer and are seen by more people than the request itself.

The ``mask_*`` functions mask one known value and keep just enough for the member or an
agent to recognise it. :func:`mask_text` finds and masks such values inside free text;
it errs on the side of masking (a 6-digit amount may be masked as if it were a member
id) and guarantees that its output contains no run of 8 or more digits at all.
:class:`PiiMaskingFilter` applies it to log records.

The patterns and the log filter live in :mod:`bot.privacy.logmask` (standard library only, so
the Rasa server loads the very same code from its own environment); this module
re-exports them and adds what only our own processes need.
"""

from __future__ import annotations

import logging

from bot.privacy.logmask import (
    PiiMaskingFilter,
    install_record_factory,
    mask_date,
    mask_email,
    mask_member_id,
    mask_phone,
    mask_text,
)

__all__ = [
    "PiiMaskingFilter",
    "install_log_masking",
    "mask_date",
    "mask_email",
    "mask_member_id",
    "mask_name",
    "mask_phone",
    "mask_text",
]


def mask_name(name: str) -> str:
    """``John Smith`` -> ``J. S***``: initials let the member see we mean them without spelling it out."""
    words = [w for w in name.split() if any(ch.isalpha() for ch in w)]
    if not words:
        return "***"
    initial = next(ch for ch in words[0] if ch.isalpha()).upper()
    if len(words) == 1:
        return f"{initial}***"
    last = next(ch for ch in words[-1] if ch.isalpha()).upper()
    return f"{initial}. {last}***"


def _add_filter(target: logging.Logger | logging.Handler, flt: PiiMaskingFilter) -> None:
    if not any(isinstance(existing, PiiMaskingFilter) for existing in target.filters):
        target.addFilter(flt)


def install_log_masking(logger_names: list[str] | None = None) -> PiiMaskingFilter:
    """Mask every log record of this process: a record factory, plus filters on existing handlers.

    The record factory (:func:`bot.privacy.logmask.install_record_factory`) masks each record
    when it is created, so handlers created later are covered too, and so is
    :data:`logging.lastResort`, which is where the action server's Sanic worker process
    writes its warnings and errors (its logging is never configured). Handler filters
    are what catch the ``extra=`` fields the factory cannot see (they are set after
    it runs) on records propagated from child loggers (logger filters only see records
    logged on that very logger), so the root handlers get one; each named logger and
    its own handlers get one as well. Installing twice adds nothing.
    """
    install_record_factory()
    flt = PiiMaskingFilter()
    root = logging.getLogger()
    for handler in root.handlers:
        _add_filter(handler, flt)
    for name in logger_names or []:
        logger = logging.getLogger(name)
        _add_filter(logger, flt)
        for handler in logger.handlers:
            _add_filter(handler, flt)
    return flt
