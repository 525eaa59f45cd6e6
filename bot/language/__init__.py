"""Members in their own language: which language a message is in (:mod:`.detect`),
answering it from the English passages (:mod:`.crosslingual`), and the bot's own words
in the languages we speak (:mod:`.messages`)."""

from bot.language.detect import (
    ANSWERED_LANGUAGES,
    DEFAULT_LANGUAGE,
    LanguageDetector,
    conversation_language,
    detect_language,
    language_choice,
    start_language,
)
from bot.language.messages import localise

__all__ = [
    "ANSWERED_LANGUAGES",
    "DEFAULT_LANGUAGE",
    "LanguageDetector",
    "conversation_language",
    "detect_language",
    "language_choice",
    "localise",
    "start_language",
]
