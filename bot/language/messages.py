"""The bot's own words in the member's language.

The English messages (bot/dialogue/replies.py) stay the source. Their translations are
gettext catalogues, ``locale/<language>/LC_MESSAGES/messages.po``, written by hand and
read with Babel: the English sentence is the ``msgid``; a sentence with a value in it
(a document's title, a kind of request) has a ``%(name)s`` placeholder, whose English
value is kept.

:func:`localise` translates a turn's messages line by line. A line with no translation
is not the bot's own sentence but a quote (the answering sentences of a passage, a fact
from the FAQ) or the member's own words: it is kept in English, word for word, after a
one-line note in the member's language saying that what follows is our document's
English text (a message quotes a document when it has a "Source:" line). A fact is
never translated. Button titles are translated when they are the bot's own; the options
of a clarification are the documents' English section titles.

In a language we do not speak (:data:`~bot.language.detect.ANSWERED_LANGUAGES`), the
messages stay in English and the first one starts with a line saying which languages
we answer in, and that the passages we quote are in English.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from bot.language.detect import ANSWERED_LANGUAGES, DEFAULT_LANGUAGE

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
#: Put before the first quoted English line of a message.
QUOTE_NOTE = "Here is what our document says (in English):"
SOURCE_LABEL = "Source:"
#: For a language we do not speak (left in English).
LANGUAGES_LINE = (
    "I can write in English, French, Dutch, German, Spanish, Portuguese and Italian; "
    "the passages I quote from our documents are in English."
)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def catalogue(language: str) -> dict[str, str]:
    """The translations of ``language`` (English sentence -> translation); empty when
    there is no catalogue. Untranslated and fuzzy entries are left out."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return {}
    from babel.messages.pofile import read_po

    with path.open("rb") as fh:
        parsed = read_po(fh, locale=language, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in parsed if m.id and m.string and not m.fuzzy}


@cache
def _patterns(language: str) -> list[tuple[re.Pattern[str], str]]:
    """The sentences with placeholders, as patterns that capture the English values."""
    patterns = []
    for msgid, msgstr in catalogue(language).items():
        if _PLACEHOLDER.search(msgid):
            parts = _PLACEHOLDER.split(msgid)  # text, name, text, name, ..., text
            regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
            patterns.append((re.compile(f"^{regex}$"), msgstr))
    return patterns


def translate(text: str, language: str) -> str | None:
    """``text`` (one of the bot's English sentences) in ``language``, or None when it is
    not one the catalogue has."""
    table = catalogue(language)
    if text in table:
        return table[text]
    for pattern, msgstr in _patterns(language):
        found = pattern.match(text)
        if found:
            return msgstr % {k: table.get(v, v) for k, v in found.groupdict().items()}
    return None


def gettext(text: str, language: str) -> str:
    """``text`` in ``language``, or ``text`` itself when it has no translation."""
    return translate(text, language) or text


def _localise_text(text: str, language: str) -> str:
    # Quotes from the documents always come with their "Source:" line; other lines
    # without a translation (a request's summary, the member's words) get no note.
    quoting = any(line.startswith(SOURCE_LABEL + " ") for line in text.split("\n"))
    lines, noted = [], not quoting
    for line in text.split("\n"):
        if line.startswith(SOURCE_LABEL + " "):
            lines.append(gettext(SOURCE_LABEL, language) + line[len(SOURCE_LABEL):])
            continue
        translated = translate(line, language) if line.strip() else line
        if translated is not None:
            lines.append(translated)
            continue
        if not noted and not line.startswith("**"):  # "**part**": the member's own question
            lines.append(gettext(QUOTE_NOTE, language))
            noted = True
        lines.append(line)
    return "\n".join(lines)


def localise(messages: list[dict], language: str) -> list[dict]:
    """The messages (``dispatcher.utter_message`` keyword dicts) in ``language``; see the
    module docstring. English ones are returned as they are."""
    if language == DEFAULT_LANGUAGE or not messages:
        return messages
    if language not in ANSWERED_LANGUAGES:
        first, *rest = messages
        return [{**first, "text": LANGUAGES_LINE + "\n" + first.get("text", "")}, *rest]
    out = []
    for message in messages:
        message = dict(message)
        if message.get("text"):
            message["text"] = _localise_text(message["text"], language)
        if message.get("buttons"):
            message["buttons"] = [{**b, "title": gettext(b["title"], language)} for b in message["buttons"]]
        if isinstance(message.get("json_message"), dict):
            message["json_message"] = {**message["json_message"], "language": language}
        out.append(message)
    return out
