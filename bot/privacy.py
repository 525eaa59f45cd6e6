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
"""

from __future__ import annotations

import logging
import re
from datetime import date

from bot.validation import MONTHS, is_member_id

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

# Country calling codes (ITU E.164): 1 and 7 are one digit, these are two digits, all
# others three. Knowing the length lets mask_phone keep exactly the country code.
_ONE_DIGIT_CODES = {"1", "7"}
_TWO_DIGIT_CODES = set(
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 "
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98".split()
)

_LOCAL_CHARS = r"A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-"
_EMAIL = rf"[{_LOCAL_CHARS}]{{1,64}}@[A-Za-z0-9\-]{{1,63}}(?:\.[A-Za-z0-9\-]{{1,63}})+"
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


def mask_phone(phone: str) -> str:
    """``+32 3 217 68 68`` -> ``+32 *** ** 68``: keep the country code and the last two digits."""
    digits = _digits(phone)
    if phone.strip().startswith("+") and len(digits) > 4:
        code = _country_code(digits)
        return f"+{code} *** ** {digits[-2:]}"
    if len(digits) >= 6:
        return f"*** ** {digits[-2:]}"
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


class PiiMaskingFilter(logging.Filter):
    """Mask personal data in log records before any handler formats or writes them.

    The message is rendered with its arguments first and the result masked, because an
    email passed as ``%s`` argument is as much a leak as one in the format string, and
    masking the arguments separately would break ``%d``-style formats. A formatted
    traceback is masked too (exception messages often quote the offending value).
    The filter never drops a record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the pieces, masked
            message = f"{record.msg} {record.args!r}"
        record.msg = mask_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def _add_filter(target: logging.Logger | logging.Handler, flt: PiiMaskingFilter) -> None:
    if not any(isinstance(existing, PiiMaskingFilter) for existing in target.filters):
        target.addFilter(flt)


def install_log_masking(logger_names: list[str] | None = None) -> PiiMaskingFilter:
    """Attach a :class:`PiiMaskingFilter` to the root logger's handlers and to the named loggers.

    Handler filters are what catch records propagated from child loggers (logger
    filters only see records logged on that very logger), so the root handlers get
    one; each named logger and its own handlers get one as well. Installing twice adds
    nothing. Handlers created later are not covered: call this after logging is set up.
    """
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
