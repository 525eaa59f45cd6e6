"""Pure validators for the values members type into our forms.

Every validator takes the raw text of one chat message and either returns a normalised
value or raises :class:`ValidationError` whose message can be shown to the member as is:
polite, specific, and with an example of the expected format. They never raise anything
else on arbitrary text (non-strings, control characters, 20,000-character pastes), so the
form code can rely on one ``except ValidationError`` and re-ask the question.

They have no I/O and no dependency on Rasa, so they are shared by the action server, the
web app and the tests, and by :mod:`bot.privacy.masking` (which masks member ids of the format
defined here).

Member id format: 6 to 12 letters and digits with at least 4 digits (e.g. ``AB123456``);
members may type it with spaces or hyphens and in lower case, we normalise to upper case
without separators.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

#: Longest chat message we accept anywhere; longer input is refused before parsing so a
#: pasted document cannot make a validator (or a regular expression) slow.
MAX_MESSAGE_CHARS = 2000


def too_long_reply(length: int) -> str:
    """What a member is told when a message is over MAX_MESSAGE_CHARS (the limit stated)."""
    return (
        f"Your message is {length:,} characters long. Please keep questions under "
        f"{MAX_MESSAGE_CHARS:,} characters and ask one thing at a time."
    )

#: The member id format: 6-12 ASCII letters/digits, at least 4 of them digits.
MEMBER_ID_MIN_LEN = 6
MEMBER_ID_MAX_LEN = 12
MEMBER_ID_MIN_DIGITS = 4
MEMBER_ID_EXAMPLE = "AB123456"

#: Month names we recognise in dates: English, French, German, Dutch and Spanish full
#: names plus English abbreviations (members of an international insurer write dates in
#: their own language). No name maps to two different months.
MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    [
        "january jan janvier januar januari enero",
        "february feb fevrier février februar februari febrero",
        "march mar mars märz maerz maart marzo",
        "april apr avril abril",
        "may mai mei mayo",
        "june jun juin juni junio",
        "july jul juillet juli julio",
        "august aug aout août augustus agosto",
        "september sep sept septembre septiembre",
        "october oct octobre oktober octubre",
        "november nov novembre noviembre",
        "december dec decembre décembre dezember diciembre",
    ],
    start=1,
):
    for _name in _names.split():
        MONTHS[_name] = _number

_ORDINAL = re.compile(r"(?<=\d)(?:st|nd|rd|th|er|e)\b")
_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
_DAY_FIRST_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})")
_DAY_MONTH_NAME = re.compile(r"(\d{1,2}) ([^\W\d_]+) (\d{4}|\d{2})")
_MONTH_NAME_DAY = re.compile(r"([^\W\d_]+) (\d{1,2}) (\d{4}|\d{2})")

_EMAIL_LOCAL = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")

_NAME_PUNCTUATION = set(" '’ʼ‘-‐‑.")

_SKIP_WORDS = {
    "skip",
    "no",
    "none",
    "nope",
    "unknown",
    "dont know",
    "don't know",
    "do not know",
    "not sure",
    "no idea",
    "n/a",
    "na",
    "-",
    "?",
}
_CURRENCY_SYMBOLS = {
    "€": "EUR",
    "£": "GBP",
    "us$": "USD",
    "$": "USD",
    "chf": "CHF",
    "fr.": "CHF",
    "¥": "JPY",
    "₹": "INR",
}
_CURRENCY_WORDS = {"euro": "EUR", "euros": "EUR", "eur": "EUR"}
#: ISO 4217 codes we accept in writing ("2500 EUR"); enough for the countries we cover.
CURRENCY_CODES = frozenset(
    "EUR USD GBP CHF JPY CNY HKD SGD AUD NZD CAD SEK NOK DKK PLN CZK HUF RON BGN TRY AED SAR QAR KWD BHD OMR "
    "ILS EGP MAD ZAR NGN KES INR THB MYR IDR PHP VND KRW TWD BRL MXN ARS CLP COP PEN RUB UAH".split()
)
_FILLER_WORDS = re.compile(r"\b(?:about|around|approx(?:imately)?|roughly|circa|ca\.?|estimated|maybe)\b|~|≈", re.I)
_MAX_COST = Decimal("100000000")


class ValidationError(ValueError):
    """A value the member typed is not acceptable; ``message`` is safe to show them.

    Subclassing ValueError keeps generic ``except ValueError`` code working, while form
    code catches this class specifically to re-ask the question with ``message``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Cost:
    """An estimated cost: a non-negative amount and the ISO currency code if the member gave one."""

    amount: Decimal
    currency: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """JSON-friendly form for the request store (a string keeps the Decimal exact)."""
        return {"amount": str(self.amount), "currency": self.currency}


# --------------------------------------------------------------------------- helpers


def _text(value: object, what: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """Check the raw value is a string of sane length, so no validator sees anything else."""
    if not isinstance(value, str):
        raise ValidationError(f"Sorry, I didn't get that. Please type your {what}.")
    if len(value) > max_chars:
        raise ValidationError(f"That message is too long for a {what}. Please type just your {what}.")
    return value


def strip_control_chars(text: str, keep_newlines: bool = False) -> str:
    """Remove control, bidi-override and unpaired surrogate characters.

    They are invisible to agents, can disguise text (bidi overrides), break terminals and
    logs, and PostgreSQL rejects NUL; keeping them would buy nothing. Tabs (and, when
    ``keep_newlines``, line breaks) are kept as plain whitespace.
    """
    out = []
    for ch in text.replace("\r\n", "\n").replace("\r", "\n"):
        cat = unicodedata.category(ch)
        if ch == "\n" and keep_newlines:
            out.append(ch)
        elif ch in "\t\n\v\f\x1c\x1d\x1e\x1f\x85\u2028\u2029":
            out.append(" ")
        elif cat in ("Cc", "Cs"):
            continue
        elif cat == "Cf" and ch not in "\u200c\u200d":  # keep ZWNJ/ZWJ: needed by some scripts and emoji
            continue
        else:
            out.append(ch)
    return "".join(out)


def _single_line(text: str) -> str:
    """NFC-normalise, drop control characters and collapse whitespace for one-line fields."""
    text = unicodedata.normalize("NFC", strip_control_chars(text))
    return " ".join(text.split())


def _ascii_digits(text: str) -> str:
    """Turn any Unicode decimal digit (Arabic-Indic, full-width, ...) into its ASCII digit."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


# --------------------------------------------------------------------------- identity


#: Replies that say yes and nothing else: never a name, a hospital, a topic or a description.
_BARE_YES = frozenset({
    "yes", "yeah", "yep", "yup", "yes please", "sure", "okay", "ok", "correct", "right", "fine", "go ahead",
    "please do", "of course", "absolutely", "definitely", "sounds good", "that's right", "thats right",
})


def _says_only_yes(text: str) -> bool:
    """Whether ``text`` is a plain yes ("Yes please!", "ok.") and nothing else."""
    return text.lower().strip(" .!") in _BARE_YES


#: Words that are in sentences, never in names: a name field takes the message whatever
#: the NLU reads in it, so "please delete my personal data" typed at "What is your full
#: name?" is told from a name here. Words that are also names ("Will", "Can", "Do") are not.
_NOT_IN_NAMES = frozenset({
    "my", "your", "me", "you", "i", "i'm", "im", "please", "the", "want", "need", "like", "data", "what",
    "how", "why", "when", "where", "which", "thanks", "thank", "hello", "hi", "delete", "request", "question",
    "help", "not", "don't", "dont", "about", "this", "that", "it", "is", "are",
    # an answer to another question of the form: a time to call, the kind of request
    "today", "tonight", "tomorrow", "yesterday", "morning", "afternoon", "evening", "weekend", "asap",
    "access", "copy", "deletion", "erasure", "correction", "restriction", "objection", "consent", "claim",
    "email", "e-mail", "phone",
})


def validate_full_name(text: object) -> str:
    """A person's full name: 2-100 characters of letters, spaces, hyphens and apostrophes.

    Names are written in many scripts, so any Unicode letter counts; digits and markup
    are refused because they are always typos or injection attempts, never part of a name.
    """
    example = "for example “Marie-Claire O'Neill”"
    name = _single_line(_text(text, "full name", 400))
    if not name or _says_only_yes(name):
        raise ValidationError(f"Please type your full name, {example}.")
    if len(name) < 2 or len(name) > 100:
        raise ValidationError(f"Your name should be between 2 and 100 characters, {example}.")
    if any(ch.isdigit() for ch in name):
        raise ValidationError(f"A name can't contain digits. Please type your full name, {example}.")
    for ch in name:
        if ch not in _NAME_PUNCTUATION and unicodedata.category(ch)[0] not in "LM":
            raise ValidationError(f"Please use only letters, spaces, hyphens and apostrophes in your name, {example}.")
    if sum(1 for ch in name if unicodedata.category(ch)[0] == "L") < 2 or not name[0].isalpha():
        raise ValidationError(f"Please type your full name starting with a letter, {example}.")
    if set(name.lower().replace("’", "'").split()) & _NOT_IN_NAMES:
        raise ValidationError(f"That doesn't look like a name. Please type your full name, {example}.")
    return name


def validate_email(text: object) -> str:
    """A practical email check (dot-atom local part, DNS-style domain); the domain is lower-cased.

    We do not accept the rarely used quoted local parts or IP-literal domains: a reply
    we cannot deliver is worse than asking the member to re-type a typo.
    """
    example = "for example name@example.com"
    value = _single_line(_text(text, "email address", 400))
    value = value.strip("<>").removeprefix("mailto:").strip()
    if not value:
        raise ValidationError(f"Please type your email address, {example}.")
    if " " in value:
        raise ValidationError(f"An email address can't contain spaces. Please check it, {example}.")
    if value.count("@") != 1:
        raise ValidationError(f"An email address has exactly one @ followed by a domain, {example}.")
    local, domain = value.split("@")
    if not local or len(local) > 64 or not _EMAIL_LOCAL.fullmatch(local):
        raise ValidationError(f"The part before the @ doesn't look right. Please check it, {example}.")
    domain = domain.rstrip(".").lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    except (UnicodeError, ValueError):
        ascii_domain = ""
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or len(ascii_domain) > 253
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)
        or len(labels[-1]) < 2
        or labels[-1].isdigit()
    ):
        raise ValidationError(f"The domain after the @ doesn't look right. Please check it, {example}.")
    if len(local) + 1 + len(ascii_domain) > 254:
        raise ValidationError(f"That email address is too long. Please check it, {example}.")
    return f"{local}@{domain}"


def validate_phone(text: object) -> str:
    """A phone number in international format, normalised to E.164 (``+3232176868``).

    Our members live all over the world, so a number without its country code is
    ambiguous; we ask for the ``+`` form rather than guess. A trunk ``(0)`` written after
    the country code (``+32 (0)3 ...``) is dropped, as it is never dialled from abroad.
    """
    example = "for example +32 3 217 68 68"
    value = _ascii_digits(_single_line(_text(text, "phone number", 200)))
    if not value:
        raise ValidationError(f"Please type your phone number with its country code, {example}.")
    if re.search(r"[^0-9 ().+\-/]", value):
        raise ValidationError(f"Please use only digits, spaces and a leading + in your phone number, {example}.")
    if value.startswith("00"):
        raise ValidationError(f"Please write the number with + instead of 00 before the country code, {example}.")
    if not value.startswith("+"):
        raise ValidationError(
            f"Please give your number in international format, starting with + and your country code, {example}."
        )
    if value.count("+") != 1:
        raise ValidationError(f"Please use a single + at the start of your phone number, {example}.")
    value = re.sub(r"^\+(\d{1,3})\s*\(0\)", r"+\1", value)
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0"):
        raise ValidationError(f"A country code never starts with 0. Please check your number, {example}.")
    if not 8 <= len(digits) <= 15:
        raise ValidationError(
            f"An international phone number has 8 to 15 digits including the country code, {example}."
        )
    return "+" + digits


def normalise_member_id(text: str) -> str:
    """Upper-case a member id and drop spaces and hyphens; the canonical form we store and hash."""
    return re.sub(r"[\s\-‐‑]", "", text).upper()


def is_member_id(text: str) -> bool:
    """True when ``text`` (already normalised) has the member id format; shared with bot.privacy.masking."""
    return (
        MEMBER_ID_MIN_LEN <= len(text) <= MEMBER_ID_MAX_LEN
        and text.isascii()
        and text.isalnum()
        and sum(ch.isdigit() for ch in text) >= MEMBER_ID_MIN_DIGITS
    )


def validate_member_id(text: object) -> str:
    """A member id: 6-12 letters and digits with at least 4 digits, returned upper case without spaces."""
    value = normalise_member_id(_single_line(_text(text, "member ID", 200)))
    if not is_member_id(value):
        raise ValidationError(
            "Your member ID has 6 to 12 letters and digits, at least 4 of them digits, "
            f"for example {MEMBER_ID_EXAMPLE}. You'll find it on your member card."
        )
    return value


# --------------------------------------------------------------------------- dates


def _year(raw: str, today: date, prefer_past: bool) -> int:
    """Expand a two-digit year: to the past for birth dates, else within 20 years ahead."""
    year = int(raw)
    if len(raw) > 2:
        return year
    candidate = 2000 + year
    limit = today.year if prefer_past else today.year + 20
    return candidate if candidate <= limit else candidate - 100


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = re.compile(r"(?:(?:this|next|coming|on|the) )*(" + "|".join(_WEEKDAYS) + ")")
_COUNT_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_IN_PERIOD = re.compile(r"in (\d{1,3}|" + "|".join(_COUNT_WORDS) + r") (day|week)s?(?: time)?")


def parse_date(text: object, today: date | None = None, *, prefer_past: bool = False) -> date:
    """Read a date the way members write it; day first, as is usual in Europe.

    Accepts ``2025-03-01``, ``01/03/2025``, ``1/3/25``, ``01.03.2025``, ``1 March 2025``,
    ``1st of March 2025``, ``March 1, 2025`` (also French, German, Dutch and Spanish
    month names), ``today``/``tomorrow``/``yesterday``, a weekday ("next Friday": the
    coming one) and "in 3 days" / "in two weeks". ``today`` is a parameter so
    results are reproducible in tests and follow the caller's time zone. Two-digit years
    go to the past when ``prefer_past`` (birth dates), otherwise to the nearest century
    that is at most 20 years ahead.
    """
    today = today or date.today()
    example = "for example 01/03/2025 or 1 March 2025"
    raw = _single_line(_text(text, "date", 200)).lower()
    value = _ORDINAL.sub("", raw.replace(",", " ")).replace(" of ", " ").rstrip(".")
    value = " ".join(value.replace(". ", " ").split())
    relative = {"today": 0, "tomorrow": 1, "yesterday": -1, "the day after tomorrow": 2, "day after tomorrow": 2}
    if value in relative:
        return today + timedelta(days=relative[value])
    if m := _WEEKDAY.fullmatch(value):
        # "next Friday", "on Friday", "Friday": the coming one (the confirmation shows the date)
        return today + timedelta(days=(_WEEKDAYS.index(m[1]) - today.weekday() - 1) % 7 + 1)
    if m := _IN_PERIOD.fullmatch(value):
        count = int(m[1]) if m[1].isdigit() else _COUNT_WORDS[m[1]]
        return today + timedelta(days=count * (7 if m[2] == "week" else 1))
    parts: tuple[int, int, int] | None = None
    if m := _ISO_DATE.fullmatch(value):
        parts = (int(m[1]), int(m[2]), int(m[3]))
    elif m := _DAY_FIRST_DATE.fullmatch(value):
        parts = (_year(m[3], today, prefer_past), int(m[2]), int(m[1]))
    elif (m := _DAY_MONTH_NAME.fullmatch(value)) and m[2].rstrip(".") in MONTHS:
        parts = (_year(m[3], today, prefer_past), MONTHS[m[2].rstrip(".")], int(m[1]))
    elif (m := _MONTH_NAME_DAY.fullmatch(value)) and m[1].rstrip(".") in MONTHS:
        parts = (_year(m[3], today, prefer_past), MONTHS[m[1].rstrip(".")], int(m[2]))
    if parts is None:
        raise ValidationError(f"Sorry, I couldn't read that date. Please write day, month and year, {example}.")
    try:
        return date(*parts)
    except ValueError:
        raise ValidationError(f"That date doesn't exist. Please check the day and month, {example}.") from None


def _add_years(day: date, years: int) -> date:
    """``day`` plus whole years; 29 February becomes 28 February in a non-leap year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def validate_birth_date(text: object, today: date | None = None) -> date:
    """A date of birth: not in the future (today is allowed: age 0) and at most 120 years ago."""
    today = today or date.today()
    born = parse_date(text, today, prefer_past=True)
    if born > today:
        raise ValidationError("A date of birth can't be in the future. Please check it, for example 14/07/1985.")
    if born < _add_years(today, -121) + timedelta(days=1):
        raise ValidationError("Please check the year of birth: it is more than 120 years ago.")
    return born


def validate_future_date(text: object, today: date | None = None) -> date:
    """An admission or appointment date: strictly after today and at most two years ahead.

    A guarantee of payment is arranged before treatment; dates in the past belong to a
    claim instead, and dates more than two years ahead are almost always typos.
    """
    today = today or date.today()
    when = parse_date(text, today)
    if when <= today:
        raise ValidationError(
            "The date must be after today. For treatment that has already happened, please submit a claim instead."
        )
    if when > _add_years(today, 2):
        raise ValidationError("We can only arrange this up to two years ahead. Please check the year.")
    return when


# --------------------------------------------------------------------------- amounts


def _parse_amount(number: str) -> Decimal:
    """Read ``2,500``, ``2.500,50``, ``2 500``, ``2'500.50`` or ``2500``; raise ValueError otherwise.

    The last of ``.``/``,`` is the decimal separator when both occur; a single separator
    followed by exactly three digits is a thousands separator (nobody estimates a
    hospital bill to a thousandth).
    """
    number = re.sub(r"[\s'’_\u00a0\u202f]", "", number)
    if not re.fullmatch(r"\d[\d.,]*", number):
        raise ValueError(number)
    dots, commas = number.count("."), number.count(",")
    if dots and commas:
        decimal_sep = "." if number.rfind(".") > number.rfind(",") else ","
        thousands_sep = "," if decimal_sep == "." else "."
        if number.count(decimal_sep) > 1:
            raise ValueError(number)
        whole, frac = number.split(decimal_sep)
    elif dots + commas == 1:
        sep = "." if dots else ","
        whole, frac = number.split(sep)
        if len(frac) == 3:
            whole, frac, thousands_sep = number, "", sep
        else:
            thousands_sep = ""
    elif dots + commas > 1:
        whole, frac, thousands_sep = number, "", "." if dots else ","
    else:
        whole, frac, thousands_sep = number, "", ""
    if thousands_sep:
        groups = whole.split(thousands_sep)
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
            raise ValueError(number)
        whole = "".join(groups)
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        raise ValueError(number)
    return Decimal(f"{whole}.{frac}" if frac else whole)


def validate_cost(text: object) -> Cost | None:
    """An optional estimated cost; ``None`` when the member skips or does not know.

    Accepts a currency symbol or ISO code before or after the amount (``€ 2,500``,
    ``2500 EUR``, ``2.500,50``, ``2.5k``) and words like "about". Negative amounts are
    refused: an estimate is never a credit.
    """
    example = "for example “2,500 EUR” or “€ 1.200,50”, or type “skip” if you don't know"
    value = _single_line(_text(text, "estimated cost", 200))
    low = value.lower().replace("’", "'").strip(" .!")
    if not low or low in _SKIP_WORDS:
        return None
    if re.search(r"(?:^|[\s€$£¥₹(])[-−–]\s*\d", low) or low.startswith(("-", "−", "–")):
        raise ValidationError("An estimated cost can't be negative. Please type the amount, " + example + ".")
    rest = _FILLER_WORDS.sub(" ", value)
    currency: str | None = None
    for symbol, code in _CURRENCY_SYMBOLS.items():
        pattern = re.compile(rf"(?<![a-z]){re.escape(symbol)}(?![a-z])", re.I)
        if pattern.search(rest):
            currency = currency or code
            rest = pattern.sub(" ", rest)
    for word in re.findall(r"[^\W\d_]+", rest):
        code = _CURRENCY_WORDS.get(word.lower()) or (word.upper() if word.upper() in CURRENCY_CODES else None)
        if word.lower() == "k":
            continue
        if code is None:
            raise ValidationError(f"Please type just the amount and, if you like, the currency, {example}.")
        if currency and currency != code:
            raise ValidationError(f"Please give the amount in a single currency, {example}.")
        currency = code
        rest = re.sub(rf"(?<![^\W\d_]){re.escape(word)}(?![^\W\d_])", " ", rest, count=1)
    rest = _ascii_digits(rest).strip()
    multiplier = Decimal(1)
    if m := re.fullmatch(r"(.*\d)\s*k", rest, re.I):
        rest, multiplier = m[1], Decimal(1000)
    try:
        amount = _parse_amount(rest) * multiplier
    except (ValueError, InvalidOperation):
        raise ValidationError(f"Sorry, I couldn't read that amount, {example}.") from None
    if multiplier != 1 and amount == amount.to_integral_value():
        amount = amount.quantize(Decimal(1))
    if amount > _MAX_COST:
        raise ValidationError(f"That amount looks too large. Please check it, {example}.")
    return Cost(amount=amount, currency=currency)


# --------------------------------------------------------------------------- preferred time

#: Longest answer to "when is a good time to call you?".
MAX_PREFERRED_TIME_CHARS = 80
#: Punctuation a time description needs ("Mon 9:00-11:00 (CET)", "after 5 p.m.", "GMT+2").
_TIME_PUNCTUATION = set(" :-–—,./'’+()&?!")
# Digits written together or with single separators, as numbers are typed ("4111 1111 ...").
_DIGIT_GROUP = re.compile(r"\d+(?:[ .\-–]\d+)*")
#: More digits than this in one group is a phone or card number, never a time range
#: ("10.00-12.00" has 8).
_MAX_GROUP_DIGITS = 8


def validate_preferred_time(text: object) -> str:
    """When a member would like a call: a short description such as "tomorrow morning",
    "Monday 14:00-16:00 CET", "after 5pm", "any time" or "asap".

    Letters (any script), digits, spaces and the punctuation times are written with, at
    most MAX_PREFERRED_TIME_CHARS characters. Refused: markup and links (they are never a
    time), and long runs of digits (more than four in a row, or more than eight joined by
    single spaces, dots or hyphens), which are phone or card numbers typed in the wrong
    place.
    """
    example = "for example “tomorrow morning”, “Monday 14:00-16:00 CET” or “any time”"
    value = _single_line(_text(text, "preferred time", 400))
    if not value:
        raise ValidationError(f"Please tell us when suits you for the call, {example}.")
    if len(value) > MAX_PREFERRED_TIME_CHARS:
        raise ValidationError(
            f"Please describe the time in a few words (at most {MAX_PREFERRED_TIME_CHARS} characters), {example}."
        )
    digits = _ascii_digits(value)
    if re.search(r"\d{5}", digits) or any(
        sum(ch.isdigit() for ch in group) > _MAX_GROUP_DIGITS for group in _DIGIT_GROUP.findall(digits)
    ):
        raise ValidationError(
            "That looks like a phone or card number. Please only tell us when to call you "
            f"(we already have your number), {example}."
        )
    low = value.lower()
    if "://" in low or "www." in low or any(
        ch not in _TIME_PUNCTUATION and not ch.isdecimal() and unicodedata.category(ch)[0] not in "LM" for ch in value
    ):
        raise ValidationError(
            "Please describe the time with words and numbers only "
            f"(letters, digits and punctuation such as : - , . /), {example}."
        )
    if not any(ch.isalnum() for ch in value):
        raise ValidationError(f"Please tell us when suits you for the call, {example}.")
    return value


# --------------------------------------------------------------------------- free text


def validate_free_text(text: object, min_len: int = 3, max_len: int = MAX_MESSAGE_CHARS) -> str:
    """Free text (a question, a description): control characters removed, length checked.

    Line breaks are kept because members structure longer descriptions with them; runs
    of blank space are trimmed so an agent sees what the member meant. A bare "yes" is
    refused: the slot takes a message whatever intent the NLU reads in it (a hospital's
    name can look like a yes to it), so the yes itself has to be told apart here.
    """
    if not isinstance(text, str):
        raise ValidationError("Sorry, I didn't get that. Please type your message.")
    if len(text) > max(max_len * 4, MAX_MESSAGE_CHARS):
        raise ValidationError(f"That message is too long. Please keep it under {max_len} characters.")
    cleaned = unicodedata.normalize("NFC", strip_control_chars(text, keep_newlines=True))
    lines = [" ".join(line.split()) for line in cleaned.split("\n")]
    cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not cleaned:
        raise ValidationError("Please type a short description; the message was empty.")
    if len(cleaned) < min_len:
        raise ValidationError(f"Please tell us a little more (at least {min_len} characters).")
    if _says_only_yes(cleaned):
        raise ValidationError("Please answer the question in a few words.")
    if len(cleaned) > max_len:
        raise ValidationError(f"That message is too long. Please keep it under {max_len} characters.")
    return cleaned
