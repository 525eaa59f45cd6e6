"""Intents that need their words: a message the classifier reads as a "no" but that
says no in no language we serve is not a no.

The classifier has seen few short messages that are neither a no nor a question, and
it reads some of them as ``deny``: a name ("Daniel Weber") at the name question, where
a no ends the form, or a doubt ("and you'll definitely change it?"), which as a no would
get "Is there anything else I can help you with?". A ``deny`` without a word of refusal is
read as a question when it asks one and as an answer (``inform``) otherwise, at the
classifier's confidence, so the fallback threshold still applies.

Standard library only: :mod:`bot.rasa_plugins.components` applies it inside Rasa.
"""

from __future__ import annotations

import re

#: Words that say no in the languages the assistant serves (data/nlu: "nope", "not
#: now", "wrong", "don't"; "nein", "lieber nicht", "non merci", "pas du tout", "nee",
#: "liever niet", "mejor no", "não"), and English ways of declining without one
#: ("maybe later", "that's all", "I'm good").
_SAYS_NO = re.compile(
    r"\b(?:no|n|na|nay|nope|nah|not|never|nothing|none|neither|nor|wrong|incorrect|negative|cancel|stop|dont|"
    r"do not|later|that'?s (?:it|all)|all good|i'?m (?:good|fine|ok|okay)|non|pas|nein|nicht|kein\w*|nee|niet|"
    r"geen|não|nao|nunca|nada)\b|n't\b",
    re.IGNORECASE,
)
_QUESTION = re.compile(
    r"\?\s*$|^(?:and |but |so )?(?:how|what|whats|when|where|who|why|which|can|could|do|does|did|is|are|will|"
    r"would|should|may|you'll|you will)\b",
    re.IGNORECASE,
)


def corrected_intent(text: str, intent: str | None) -> str | None:
    """The intent to use instead of ``intent`` for ``text``, or None to keep it."""
    if intent != "deny":
        return None
    said = text.replace("’", "'").strip()
    if not said or _SAYS_NO.search(said):
        return None
    return "ask_question" if _QUESTION.search(said) else "inform"
