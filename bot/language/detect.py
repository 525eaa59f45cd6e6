"""Which language a member writes in.

py3langid (a maintained fork of langid.py, its naive Bayes model inside the package, no
download) reads the message's byte n-grams. Left to all of its 97 languages it calls
short English messages Nigerian Pidgin, Afrikaans or Galician ("gop?", "password
reset"), so it chooses among the languages members write to an international insurer
in (:data:`CANDIDATES`). A member's short or unclear message keeps the conversation's
language: only a message of at least :data:`MIN_WORDS` words that the model puts at
:data:`MIN_PROBABILITY` or more switches it, or one written in a script of its own
(Chinese, Arabic, Cyrillic...), which no short Latin-script message is confused with.

Chosen on the labelled sets of tests/eval/ (2,451 messages, English and eight other
languages): every English message stays English; 0.7 and 3 words lose one Spanish,
one Italian and one Portuguese message of 255 to English.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

#: The language of the documents and of a conversation that has not said otherwise.
DEFAULT_LANGUAGE = "en"
#: Languages the bot speaks (its own words are translated); others get English with a
#: line saying which languages we answer in.
ANSWERED_LANGUAGES = ("en", "fr", "nl", "de", "es", "pt", "it")
#: Languages the identifier chooses among (ISO 639-1).
CANDIDATES = (
    *ANSWERED_LANGUAGES,
    "zh", "ar", "ru", "uk", "tr", "pl", "ja", "ko", "hi", "ro", "el", "sv", "da", "no", "fi", "cs", "hu",
    "id", "vi", "th", "fa", "he",
)
#: Languages written in a script that no Latin-script message is mistaken for.
_OWN_SCRIPT = frozenset({"zh", "ar", "ru", "uk", "ja", "ko", "hi", "el", "th", "fa", "he"})
#: A message switches the conversation's language only with this many words...
MIN_WORDS = 3
#: ...and at least this probability for the new language.
MIN_PROBABILITY = 0.7
_WORD = re.compile(r"\w+")
_NON_LATIN = re.compile(r"[^\W\d_a-zA-Z\u00c0-\u024f]")


@dataclass(frozen=True)
class Detection:
    """The language a message is taken to be in, the identifier's own guess and its
    probability (the two differ when a short or unclear message kept the conversation's)."""

    language: str
    guess: str
    probability: float


class LanguageDetector:
    """py3langid restricted to :data:`CANDIDATES`, with the conversation's language as
    the default for short or unclear messages."""

    def __init__(self) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self._identifier.set_languages(list(CANDIDATES))
        self._lock = threading.Lock()  # the identifier keeps scratch arrays between calls

    def detect(self, text: str, current: str | None = None) -> Detection:
        """The language of ``text`` in a conversation so far in ``current`` (default English)."""
        current = current or DEFAULT_LANGUAGE
        if not _WORD.search(text or ""):
            return Detection(current, current, 0.0)
        with self._lock:
            guess, probability = self._identifier.classify(text)
        probability = float(probability)
        if guess == current:
            return Detection(current, guess, probability)
        if guess in _OWN_SCRIPT and _NON_LATIN.search(text):
            return Detection(guess, guess, probability)
        if probability < MIN_PROBABILITY or len(_WORD.findall(text)) < MIN_WORDS:
            return Detection(current, guess, probability)
        return Detection(guess, guess, probability)


@lru_cache(maxsize=1)
def detector() -> LanguageDetector:
    """The process-wide detector (its model loads in about a second)."""
    return LanguageDetector()


def detect_language(text: str, current: str | None = None) -> str:
    """ISO 639-1 code of the language ``text`` is taken to be in (see :class:`LanguageDetector`)."""
    return detector().detect(text, current).language


#: How many of the member's latest messages decide a conversation's language.
HISTORY = 12


def conversation_language(messages: list[str], start: str | None = None) -> str:
    """The language of a conversation after the member's ``messages`` (oldest first):
    each one read in the language the ones before it left (button payloads, which
    start with "/", say nothing about it), the first in ``start`` (the language the
    conversation started in, :func:`start_language`; default English)."""
    language = start if start in ANSWERED_LANGUAGES else DEFAULT_LANGUAGE
    for text in [m for m in messages if m and not m.startswith("/")][-HISTORY:]:
        language = detect_language(text, language)
    return language


def start_language(metadata: object) -> str | None:
    """The language a conversation starts in, from the metadata of the message that
    started it: the member's choice in the widget's switch (``language``), else the
    browser's language the widget sent (``start_language``), if it is one we answer in;
    None otherwise. It is what the bot says before the member has written anything
    (the greeting, a form started from a button) in; the member's own messages are read
    from it on and may switch it (:func:`conversation_language`)."""
    if not isinstance(metadata, dict):
        return None
    language = language_choice(metadata) or metadata.get("start_language")
    return language if language in ANSWERED_LANGUAGES else None


def language_choice(metadata: object) -> str | None:
    """The language a member chose in the widget's switch, from a message's metadata
    (``{"language": "fr"}``, sent with every message while the choice stands), if it is
    one we answer in; None when they left the language to detection."""
    language = metadata.get("language") if isinstance(metadata, dict) else None
    return language if language in ANSWERED_LANGUAGES else None
