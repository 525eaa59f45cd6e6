"""Intents that need their words: a message the classifier reads as a "no", a goodbye,
a hand-off or a call back, but that says none of them in any language we serve, is
none of them; a question it reads as a cancel that says neither no nor leave is a
question; and a message that opens by leaving ("forget it, I'll do it later",
"never mind.") leaves, however the classifier reads the rest.

The classifier has seen few short messages that are neither a no nor a question, and
it reads some of them as ``deny`` or ``goodbye``: a name ("Daniel Weber", "Joao
Pereira") at the name question, where either ends the form, or a doubt ("and you'll
definitely change it?"), which as a no would get "Is there anything else I can help you
with?". So does an email address alone, typed at the email question, read as a
hand-off. A ``deny`` without a word of refusal, a ``goodbye`` without a farewell, a
``human_handoff`` without a word for a person or a ``request_callback`` without one
for calling is read as a question when it asks one and as an answer (``inform``)
otherwise, at the classifier's confidence, so the fallback threshold still applies.
A leaving phrase on its own or closed by punctuation (:func:`leaves`) is ``cancel`` for
certain: "forget it, I'll do it later" reads to the classifier as half a leave and half
an answer, below the fallback threshold, and a member who says it must be let out of a
form.

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
    r"would|should|may|you'll|you will)\b"
    # a condition, then the question: "if i upload a photo from my phone in the app can u see it"
    r"|^if\b[^?]*\b(?:can|could|will|would|do|does|is|are)\s+(?:u|you|i|we|they|it|cigna)\b",
    re.IGNORECASE,
)


#: Words a member may say before leaving ("oh", "actually", "wait", "no,"; "en fait", "eigentlich").
_LEAD_INS = (
    r"oh|hmm+|ok(?:ay)?|actually|wait|no|sorry|please|um+|en fait|eigentlich|en realidad|eigenlijk|"
    r"in realtà|na verdade|non|nein|nee|não"
)
#: Leaving phrases: the words the cancel examples in data/nlu/chitchat.yml open with, and
#: those a live sweep of every form step found the classifier missing. Their objects
#: are spelled out so that "I don't want your marketing emails anymore" or "stop sharing
#: my data" (something else asked) are not among them.
_LEAVING_PHRASES = (
    # the plain ones
    r"cancel(?: (?:it|that|this|the request|my request))?",
    r"stop(?: (?:it|this|that|here|the request))?",
    r"never ?mind|forget (?:it|that|about it)|no,? thanks?|no,? thank you|scrap (?:it|that)|(?:leave|drop) it",
    r"i (?:only|just) wanted (?:some )?info(?:rmation)?",
    r"maybe later|not (?:right )?now|some other time|(?:that'?s )?enough",
    r"i'?ll (?:do|finish) (?:it|this|that) (?:later|another time)",
    # no longer needing the request ("actually I don't need a call anymore")
    r"i (?:don'?t|do not) (?:need|want) (?:it|this|that|them|help|your help|"
    r"(?:a |the |any )?(?:phone )?call(?: ?back)?s?|(?:to )?(?:do|continue|go on with|finish) (?:it|this|that))"
    r"(?: any ?more| after all)",
    # not wanting to go on ("I don't want to give my details", "I don't want a callback")
    r"i (?:don'?t|do not) want (?:to (?:give|share) (?:my |any |you my )?(?:details|information|info|data|number)|"
    r"to (?:continue|go on)|(?:a |the |any )?call ?backs?|(?:a |the )?(?:phone )?call|this|that|it)",
    # getting in touch themselves ("I'd rather call you myself")
    r"i'?(?:ll| will|d rather|'d rather) (?:just )?(?:call|phone|ring|email|e-mail|contact) (?:you|them|cigna)"
    r"(?: myself)?(?: instead| later| directly)?",
    # putting it off, getting out
    r"let me think(?: about it)?|i'?(?:ll| will) come back(?: later| another time| tomorrow)?",
    r"get me out(?: of (?:here|this))?|leave it (?:for now|there)",
    # "I changed my mind" and "forget it" in the other languages we serve
    r"i(?:'ve| have)? changed my mind|j'ai changé d'avis|(?:ich )?habe (?:ich )?es mir anders überlegt|"
    r"(?:he )?cambiado de opinión|cambié de opinión|(?:ik )?ben (?:ik )?van gedachten veranderd|ho cambiato idea|"
    r"mudei de ideias?|dimenticalo|lascia stare|vergeet het|vergiss es|olvídalo|oublie ça|esquece(?: isso)?",
)
#: A leaving phrase, after any lead-ins, that ends the message or is closed by
#: punctuation, with no question after it: "stop sharing my data" asks something else.
_LEAVES = re.compile(
    rf"^(?:(?:{_LEAD_INS})[,.!\s]+)*(?:{'|'.join(_LEAVING_PHRASES)})"
    r"(?:[,\s]+(?:please|thanks|thank you))?\s*(?:$|[,.;!]|\s+[-–—]\s*)(?![^?]*\?\s*$)",
    re.IGNORECASE,
)


#: Question marks in the scripts members write in, as in bot/language/conversation.py
#: (this module stays standard-library only).
_QUESTION_MARKS = ("?", "？", "؟")
#: A "not" that says no to nothing: in a name ("I browse with Do Not Track on. Does
#: Cigna honour that?") or a question's "or not" ("Do you respect that or not?").
_NAMES_WITH_NO = re.compile(r"\bdo[- ]not[- ]track\b|\bor not\b", re.IGNORECASE)
#: Intents that already leave a form (data/rules: each ends every form).
LEAVING_INTENTS = frozenset({"cancel", "deny", "goodbye"})


def leaves(text: str) -> bool:
    """Whether ``text`` opens by leaving what is going on ("forget it, I'll do it
    later", "no thanks, stop", "hmm wait, I only wanted information"), and asks nothing
    after it ("never mind, what's the phone number?" is left to the classifier)."""
    return bool(_LEAVES.match(text.replace("’", "'").strip()))


#: Words that take leave, in the languages the assistant serves ("bye", "see you", "I'm
#: done"; "au revoir", "tschüss", "adiós", "tot ziens", "arrivederci", "tchau").
_SAYS_BYE = re.compile(
    r"\b(?:bye|goodbye|good ?night|see (?:you|ya)|cya|ciao|farewell|later|talk (?:later|soon)|speak soon|"
    r"talk to you|nice day|i'?m (?:done|leaving|off)|gotta go|end (?:the )?chat|until next time|that'?s (?:all|it|"
    r"everything)|au revoir|adieu|salut|bonne (?:journée|soirée)|tsch[üu]ss|auf wiedersehen|adi[oó]s|hasta|"
    r"tot ziens|doei|arrivederci|tchau|adeus)\b",
    re.IGNORECASE,
)
#: Words that ask for a person, in the languages the assistant serves.
_SAYS_PERSON = re.compile(
    r"\b(?:person|people|human|someone|somebody|anyone|anybody|agent|advis[oe]r|operator|representative|staff|"
    r"manager|supervisor|customer (?:service|support|care)|team|talk|speak|chat|bot|escalate|transfer|connect|"
    r"put me through|"
    r"hand me over|real|mensch\w*|mitarbeiter\w*|jemand\w*|sprechen|reden|berater\w*|verbinden|parler|"
    r"quelqu'un|personne|humain|conseill\w*|opérateur|hablar|persona|alguien|humano|asesor|spreken|praten|"
    r"iemand|medewerker|mens|persoon|parlare|qualcuno|umano|operatore|consulente|falar|alguém|pessoa|atendente)\b",
    re.IGNORECASE,
)
#: Words that ask to be called, in the languages the assistant serves.
_SAYS_CALL = re.compile(
    r"\b(?:call\w*|ring|phone\w*|callback|rappel\w*|appel\w*|\w*ruf\w*|rückruf\w*|llam\w*|llám\w*|bel\w*|"
    r"terug\w*|chiam\w*|richiam\w*|lig\w*|chamad\w*|telefon\w*)",
    re.IGNORECASE,
)
#: Words that leave what is going on, in the languages the assistant serves, besides a
#: "no" (data/nlu: "never mind", "forget it", "quit", "I only wanted information",
#: "vergiss es", "laisse tomber", "olvídalo", "lascia stare", "esquece", "laat maar").
_SAYS_LEAVE = re.compile(
    r"\b(?:never ?mind|forget|quit|abort|exit|leave|enough|scrap|start over|changed my mind|only|just|anymore|"
    r"rather|hold on|wait|vergiss\w*|abbrech\w*|stopp|beend\w*|lass\w*|egal|schon gut|nur|annul\w*|arrêt\w*|"
    r"laiss\w*|oubli\w*|importa|d[ée]ja\w*|olvid\w*|para|parar|basta|lascia|dimentic\w*|deixa|esquec\w*|laat|"
    r"vergeet|alleen|solo|só|seulement|juste)\b",
    re.IGNORECASE,
)
#: Words that say yes, in the languages the assistant serves (data/nlu: "yes", "sure",
#: "go ahead", "send it"; "ja", "genau", "sí", "vale", "oui", "d'accord", "sì", "certo",
#: "klopt", "sim", "está bem").
_SAYS_YES = re.compile(
    r"\b(?:yes|yeah|yea|yep|yup|ya|ok|okay|sure|correct|right|absolutely|of course|confirm\w*|looks good|"
    r"go ahead|definitely|sounds good|please|do it|send|fine|perfect|great|alright|agreed|"
    r"ja|bitte|genau|stimmt|absenden|einverstanden|sí|por favor|correcto|de acuerdo|env[ií]\w*|vale|claro|"
    r"oui|merci|d'accord|c'est ça|envoy\w*|exactement|sì|grazie|esatto|va bene|invia|certo|graag|klopt|prima|"
    r"versturen|oké|sim|está bem|enviar|exato)\b|👍",
    re.IGNORECASE,
)
#: A question the classifier reads as one of these intents is a question unless it has
#: one of their words (:func:`corrected_intent`).
_ASKED_ONLY_WITH = {"cancel": (_SAYS_NO, _SAYS_LEAVE), "affirm": (_SAYS_YES,)}
#: The intents whose own words must be in the message: a "no" or a goodbye the
#: message does not say is an answer ("Daniel Weber", "Joao Pereira" at the name
#: question, where either would end the form) or a question; so is a hand-off or a
#: call back nobody asked for (an email address alone, typed at the email question,
#: read as a hand-off).
_NEEDS_WORDS = {"deny": _SAYS_NO, "goodbye": _SAYS_BYE, "human_handoff": _SAYS_PERSON, "request_callback": _SAYS_CALL}


#: A call word naming the device, not asking to be called ("a photo from my phone").
_THE_PHONE = re.compile(r"\b(?:my|your|the|a|this|that|his|her|our|their) (?:mobile )?phone\b(?! (?:me|us)\b)", re.I)


def corrected_intent(text: str, intent: str | None) -> str | None:
    """The intent to use instead of ``intent`` for ``text``, or None to keep it.

    A ``cancel`` or an ``affirm`` is only ever turned into a question: a question that
    says neither no nor leave ("so what are they actually used for?", "whats the process
    for asking them to delete my data"), or no yes ("¿y si el hospital no tiene acuerdo
    con ustedes?"), is asked; a statement the classifier reads as leaving keeps leaving,
    since a leave the guard failed to see would otherwise trap the member in the form,
    and one it reads as a yes keeps it, since the confirmation step waits for one."""
    said = text.replace("’", "'").strip()
    if intent in _ASKED_ONLY_WITH:
        asks = bool(_QUESTION.search(said) or said.endswith(_QUESTION_MARKS))
        words = _NAMES_WITH_NO.sub(" ", said)
        return "ask_question" if asks and not any(w.search(words) for w in _ASKED_ONLY_WITH[intent]) else None
    words = _NEEDS_WORDS.get(intent or "")
    if words is None:
        return None
    if not said or words.search(_THE_PHONE.sub(" ", said)):
        return None
    return "ask_question" if _QUESTION.search(said) else "inform"
