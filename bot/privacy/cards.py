"""Payment card data never enters the assistant: it is cut from a message before Rasa reads it.

We never need a card, and under PCI DSS a card number and its security code must not be
stored where ours would end up: Rasa's tracker, the request store, logs, transcripts. So
the channels Rasa receives messages on (bot/rasa_plugins/channels.py) and the web app
replace, before anything else sees the message:

* a card number: 13 to 19 digits, optionally grouped by spaces or dashes, that pass the
  Luhn check (so a 16-digit policy or reference number that fails it is kept), not
  after a "+" (a phone number's country code);
* in a message that holds one, an expiry date (``12/27``, ``12-2027``) and a 3 or 4
  digit number named as a security code, or standing right after the card or expiry;
* a number named as a security code (``CVV 123``) in any message.

Standard library only: the Rasa server imports this module.
"""

from __future__ import annotations

import re

CARD_PLACEHOLDER = "[card number removed]"
EXPIRY_PLACEHOLDER = "[expiry date removed]"
CODE_PLACEHOLDER = "[security code removed]"

#: What the member is told when card data was removed from their message.
CARD_NOTICE = (
    "For your security I removed the payment card details from your message: please don't "
    "share card numbers or security codes in this chat. We never need them here."
)

#: Card numbers as people type them: one run of digits, four-digit groups, or the 4-6-5
#: grouping of American Express and Diners cards. Not after a "+": "+8613812345678" is a
#: phone number with its country code, though one in ten such numbers passes the Luhn check.
_CARD = re.compile(
    r"(?<![\d\-+])(?:\d{13,19}|\d{4}([ \-])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ \-])\d{6}\2\d{4,5})(?![\d])"
)
_CODE_WORDS = r"(?:cvv2?|cvc2?|cid|csc|security\s+code|card\s+code|code\s+on\s+the\s+back)"
_NAMED_CODE = re.compile(rf"(?i)\b({_CODE_WORDS})(\s*(?:is|[:=#-])?\s*)(\d{{3,4}})\b")
_EXPIRY = re.compile(r"(?<![\d/])(0?[1-9]|1[0-2])\s*[/\-]\s*(\d{4}|\d{2})(?![\d/])")
#: A bare 3-4 digit number right after a removed card number or expiry ("... 12/27 123").
_TRAILING_CODE = re.compile(
    rf"({re.escape(CARD_PLACEHOLDER)}|{re.escape(EXPIRY_PLACEHOLDER)})([\s,;]+(?:(?:and|exp(?:iry)?|expires)\s+)?)(\d{{3,4}})\b"
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return CARD_PLACEHOLDER if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


def redact_card_data(text: str) -> tuple[str, bool]:
    """``text`` without card numbers, their expiry and security codes; and whether any was removed."""
    redacted = _CARD.sub(_card, text)
    redacted = _NAMED_CODE.sub(lambda m: f"{m.group(1)}{m.group(2)}{CODE_PLACEHOLDER}", redacted)
    if CARD_PLACEHOLDER in redacted:
        redacted = _EXPIRY.sub(EXPIRY_PLACEHOLDER, redacted)
        redacted = _TRAILING_CODE.sub(lambda m: f"{m.group(1)}{m.group(2)}{CODE_PLACEHOLDER}", redacted)
    return redacted, redacted != text
