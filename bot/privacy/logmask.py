"""Finding and masking personal data in free text and in log records (standard library only).

Members paste their email, phone, member id, date of birth and sometimes card numbers
into the chat, and every process that sees a message may log it: Rasa logs each user
message and every slot at DEBUG, the action server and the web app log errors that
quote the offending value. Logs live longer and are read by more people than the
request itself, so nothing personal may reach them in clear.

This module holds the one set of patterns for that, and it imports nothing but the
standard library and :mod:`bot.dialogue.validation` (also standard library only, and the owner
of the member id format), so the Rasa server can load it from its own environment
(``.venv-rasa``) through ``PYTHONPATH`` without our heavy dependencies.
:mod:`bot.privacy.masking` re-exports the maskers for the rest of the package.

* :func:`mask_text` finds and masks such values inside free text; it errs on the side
  of masking (a 6-digit amount may be masked as if it were a member id) and guarantees
  that its output contains no run of 8 or more digits at all.
* :class:`PiiMaskingFilter` masks a log record (message with its ``%`` arguments,
  traceback, stack, string ``extra`` fields) for a handler or a logger.
* :func:`install_record_factory` masks every record the process creates from then on,
  whatever logger or handler it goes to: filters only see records that reach the
  handler or logger they are attached to, and servers (Sanic, coloredlogs) add
  handlers of their own after our configuration ran.
* :func:`mask_all_records` is the ``()`` factory for ``logging.config.dictConfig``
  (``rasa run --logging-config-file``): it does both. See ``rasa-logging.yml``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from bot.dialogue.validation import MONTHS, is_member_id

__all__ = [
    "PiiMaskingFilter",
    "install_record_factory",
    "mask_all_records",
    "mask_date",
    "mask_email",
    "mask_member_id",
    "mask_phone",
    "mask_record",
    "mask_text",
]

# Country calling codes (ITU E.164): 1 and 7 are one digit, these are two digits, all
# others three. Knowing the length lets mask_phone keep exactly the country code.
_ONE_DIGIT_CODES = {"1", "7"}
_TWO_DIGIT_CODES = set(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)

# RFC 5322 allows "/" in the local part. Taking it like any other character would swallow
# the URL path in front of an address (GET /conversations/j***@e***.com/tracker must stay
# readable), so slashes count only as a local part of their own: "/@example.com" is
# still masked, because some match must always cover the "@" and the domain.
_LOCAL_CHARS = r"A-Za-z0-9.!#$%&'*+=?^_`{|}~\-"
_EMAIL = rf"(?:[{_LOCAL_CHARS}]{{1,64}}|/{{1,64}})@[A-Za-z0-9\-]{{1,63}}(?:\.[A-Za-z0-9\-]{{1,63}})+"
#: An e-mail address in free text: what :func:`mask_text` masks, and what the retriever
#: reads as the member's own address when our documents do not give it.
EMAIL_ADDRESS = re.compile(_EMAIL)
_CARD = r"(?<!\d)\d(?:[ \-]?\d){12,18}(?!\d)"
_INTL_PHONE = r"\+\d(?:[ .()/\-]{0,3}\d){6,14}(?!\d)"  # 7-15 digits: E.164
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MONTH_NUM = r"(?:0?[1-9]|1[0-2])"
_MONTH_NAME = "(?:" + "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True)) + r")\.?"
_ORD = r"(?:st|nd|rd|th|er|e)?"
_NOT_CONTINUED = r"(?![\d]|[/.\-]\d)"
_DATE = "|".join(
    [
        rf"(?<!\d){_DAY}(?P<sep>[/.\-]){_MONTH_NUM}(?P=sep)(?:\d{{4}}|\d{{2}}){_NOT_CONTINUED}",
        rf"(?<!\d)\d{{4}}-{_MONTH_NUM}-{_DAY}{_NOT_CONTINUED}",
        rf"(?<!\w){_DAY}{_ORD}\.?\s{{1,3}}(?:of\s{{1,3}})?{_MONTH_NAME},?\s{{1,3}}\d{{4}}(?!\d)",
        rf"(?<!\w){_MONTH_NAME}\s{{1,3}}{_DAY}{_ORD},?\s{{1,3}}\d{{4}}(?!\d)",
    ]
)
_LOCAL_PHONE = r"(?<![\d+])\d(?:[ .()\-]{0,3}\d){7,}(?!\d)"
_MEMBER_ID = r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]{6,12}(?![A-Za-z0-9]))[A-Za-z0-9]{6,12}"

# One alternation, scanned once, so a masked value is never masked again and the order
# of the alternatives decides overlaps: an email wins over the digits inside it, a card
# over a phone, a date over a local number.
_PII = re.compile(
    f"(?P<email>{_EMAIL})|(?P<card>{_CARD})|(?P<intl>{_INTL_PHONE})|(?P<date>{_DATE})"
    f"|(?P<local>{_LOCAL_PHONE})|(?P<member>{_MEMBER_ID})",
    re.IGNORECASE,
)
_LONG_DIGIT_RUN = re.compile(r"\d{8,}")
_YEAR = re.compile(r"(?<!\d)(\d{4})(?!\d)")


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdecimal())


def _country_code(digits: str) -> str:
    """The country calling code at the start of an international number's digits."""
    if digits[:1] in _ONE_DIGIT_CODES:
        return digits[:1]
    if digits[:2] in _TWO_DIGIT_CODES:
        return digits[:2]
    return digits[:3]


def mask_email(email: str) -> str:
    """``john.smith@example.com`` -> ``j***@e***.com``: first letters and top-level domain only."""
    email = email.strip()
    if "@" not in email:
        return "***"
    local, _, domain = email.rpartition("@")
    labels = [label for label in domain.split(".") if label]
    tld = f".{labels[-1]}" if len(labels) > 1 else ""
    first_domain = labels[0][:1] if labels else ""
    return f"{local[:1]}***@{first_domain}***{tld}"


def mask_phone(phone: str, keep: int = 2) -> str:
    """``+32 3 217 68 68`` -> ``+32 *** ** 68``: keep the country code and the last two
    digits. Read back to the member who gave it, four (``keep``) let them check it:
    ``+32 *** 6868``."""
    digits = _digits(phone)
    last = f"** {digits[-2:]}" if keep == 2 else digits[-keep:]
    if phone.strip().startswith("+") and len(digits) > keep + 2:
        code = _country_code(digits)
        return f"+{code} *** {last}"
    if len(digits) >= keep + 4:
        return f"*** {last}"
    return "***"


def mask_member_id(member_id: str) -> str:
    """``AB123456`` -> ``***456``: the last three characters are enough for an agent to match."""
    compact = re.sub(r"[\s\-]", "", member_id)
    return f"***{compact[-3:]}" if len(compact) >= 6 else "***"


def mask_date(value: date | str) -> str:
    """``14/07/1985`` -> ``**/**/1985``: the year alone is rarely identifying, the full date is."""
    if isinstance(value, date):
        return f"**/**/{value.year:04d}"
    text = value.strip()
    if m := _YEAR.search(text):
        return f"**/**/{m[1]}"
    if m := re.search(r"[/.\-](\d{2})$", text):
        return f"**/**/{m[1]}"
    return "**/**/****"


def _mask_match(match: re.Match[str]) -> str:
    kind = match.lastgroup
    text = match.group()
    if kind == "email":
        # Quotes are legal in an address but usually quote it ('john@x.com' in a repr): keep them outside.
        quoted = len(text) - len(text.lstrip("'`"))
        if quoted and not text[quoted:].startswith("@"):
            return text[:quoted] + mask_email(text[quoted:])
        return mask_email(text)
    if kind == "card":
        return f"**** {_digits(text)[-4:]}"
    if kind == "intl":
        return mask_phone(text)
    if kind == "local":
        return mask_phone(text)
    if kind == "member":
        return mask_member_id(text) if is_member_id(text.upper()) else text
    # A date; lastgroup is "sep" for the numeric form, whose outer group is "date".
    return mask_date(text)


def mask_text(text: str) -> str:
    """Mask emails, phone and card numbers, dates, member ids and long digit runs in free text.

    Used for questions we keep for analytics and for log lines. After the pattern pass
    every remaining run of 8+ digits (e.g. in a script our patterns do not cover) is
    masked too, so the result never contains 8 consecutive digits.
    """
    if not isinstance(text, str):
        text = str(text)
    masked = _PII.sub(_mask_match, text)
    return _LONG_DIGIT_RUN.sub(lambda m: mask_phone(m.group()), masked)


# --------------------------------------------------------------------------- log records

#: Attributes every LogRecord has; any other string attribute came from ``extra=`` (e.g.
#: Sanic's access log puts the request line there) and is masked like the message.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
#: A decimal fraction with more than six digits (Rasa logs confidences and scores as
#: ``0.9999999403953552``): cut to three decimals before masking, because mask_text would
#: otherwise take the digit run for a phone number and mask it, leaving the log line
#: unreadable. Those trailing digits identify no one; a small integer part keeps
#: timestamps, ids and phone numbers out of this rule.
_LONG_DECIMAL = re.compile(r"(?<![\d.])(\d{1,3}\.\d{3})\d{4,}(?![\d.])")
#: Set on a record once it is masked, so a second filter or the factory does not redo the work.
_MASKED = "_pii_masked"


def _format_exception(exc_info: Any) -> str:
    return logging.Formatter().formatException(exc_info)


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask one record in place and return it.

    The message is rendered with its arguments first and the result masked, because an
    email passed as a ``%s`` argument is as much a leak as one in the format string, and
    masking the arguments separately would break ``%d``-style formats. The traceback is
    rendered to ``exc_text`` and masked (exception messages often quote the offending
    value); ``exc_info`` is then dropped, so no formatter can render the clear text
    again and the frames (with their local variables) are not kept alive.
    """
    if getattr(record, _MASKED, False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the pieces, masked
        message = f"{record.msg} {record.args!r}"
    record.msg = mask_text(_LONG_DECIMAL.sub(r"\1", message))
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = _format_exception(record.exc_info)
    record.exc_info = None
    if record.exc_text:
        record.exc_text = mask_text(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info)
    _mask_extras(record)
    setattr(record, _MASKED, True)
    return record


def _mask_extras(record: logging.LogRecord) -> None:
    """Mask string fields given with ``extra=`` (the record factory runs before makeRecord sets them)."""
    for name, value in list(vars(record).items()):
        if name not in _RECORD_ATTRIBUTES and name != _MASKED and isinstance(value, str):
            setattr(record, name, mask_text(value))


class PiiMaskingFilter(logging.Filter):
    """Mask personal data in log records before any handler formats or writes them.

    Attach it to handlers (a handler filter sees every record that reaches the handler,
    including those propagated from child loggers) or to loggers that do not propagate
    (a logger filter sees only records logged on that very logger). See
    :func:`mask_record` for what is masked. The filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _MASKED, False):
            _mask_extras(record)  # masked at creation; ``extra=`` fields arrived afterwards
        else:
            mask_record(record)
        return True


def _is_masking(factory: Callable[..., logging.LogRecord]) -> bool:
    return bool(getattr(factory, _MASKED, False))


def install_record_factory() -> None:
    """Mask every log record this process creates from now on, whichever logger and handler it meets.

    Wraps the current record factory (:func:`logging.setLogRecordFactory`), so it
    survives servers that reconfigure logging or add handlers later (Sanic applies its
    own ``dictConfig``, coloredlogs replaces the console handler, ``--log-file`` adds a
    file handler) and covers loggers that do not propagate and have no handler (their
    warnings reach :data:`logging.lastResort`). Fields passed with ``extra=`` are set
    after the factory runs; :class:`PiiMaskingFilter` covers those. Installing twice
    adds nothing.
    """
    current = logging.getLogRecordFactory()
    if _is_masking(current):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return mask_record(current(*args, **kwargs))

    setattr(factory, _MASKED, True)
    logging.setLogRecordFactory(factory)


def mask_all_records() -> PiiMaskingFilter:
    """``dictConfig`` filter factory (``(): bot.privacy.logmask.mask_all_records``): mask everything.

    Installs :func:`install_record_factory` as a side effect, because a logging config
    file can only declare filters, formatters and handlers, and handler filters alone
    do not reach the handlers Rasa's server libraries create after the file is applied.
    Returns the filter for the handlers and loggers the file attaches it to.
    """
    install_record_factory()
    return PiiMaskingFilter()
