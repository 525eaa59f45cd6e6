"""Does the passage we would cite hold the kind of fact the question asks for?

Out-of-scope questions that get answered anyway are mostly *specific* questions on a
topic our documents do cover: "how much does a guarantee of payment cost", "how many
wrong passwords before my account locks", "what is the fax number for claims", "when
was the statement last updated". The best passage is on the right topic, so every
retrieval score is high, but it holds no price, count, fax number or date: citing it
would not answer the question, and a member reading it might take it for the answer.
Question-answering systems call this the expected answer type. We check the few types
members ask for by wording, and only in one direction: a question that asks for a
price gets no answer from a passage that mentions no price, fee or charge at all.

Also: a limit or maximum, an e-mail address, which languages, "is it free".

Phone numbers are not checked: "what's your phone number" is answered by the FAQ's
"see your member card", which holds no digits. Nor are "how often" questions
("regularly" answers them). Each type was drawn from misses on labelled sets and measured on the others: see
reports/eval.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUMBER = r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twelve|thirty|hundred|single|once|twice)\b"


@dataclass(frozen=True)
class AnswerType:
    """A kind of fact: how a question asks for it, and how a passage that states it reads."""

    name: str
    asked: re.Pattern[str]
    stated: re.Pattern[str]


ANSWER_TYPES = (
    AnswerType(
        "price",
        re.compile(r"\bhow much\b.*\b(?:cost|costs|charge|charges)\b"
                   r"|\b(?:what|any|is there an?|the) (?:fee|fees|price|cost)\b"
                   r"|\bcharge (?:a|me|for|anything)\b|\b(?:fee|price|cost) (?:of|for)\b"
                   r"|\bis (?:it|that|this|the \w+(?: \w+)?) free\b|\bfree to (?:download|use|install)\b", re.I),
        # "hassle-free" and "feel free" say nothing of a price; "toll-free" does.
        re.compile(r"(?<!hassle-)(?<!feel )\bfree\b|\b(?:fee|fees|charge|charges|charged|cost|costs|price|prices|"
                   r"payable)\b|[€$£]", re.I),
    ),
    AnswerType("count", re.compile(r"(?<!about )\bhow many\b", re.I), re.compile(_NUMBER, re.I)),
    AnswerType(
        "limit",
        re.compile(r"\b(?:max|maximum|minimum)\b|\b(?:the|an age|annual|yearly) (?:limit|cap|ceiling)\b"
                   r"|\blimit (?:for|per)\b", re.I),
        re.compile(_NUMBER + r"|[€$£]|\b(?:limit|limits|maximum|minimum|up to)\b", re.I),
    ),
    AnswerType(
        "duration",
        re.compile(r"\bhow long\b|\bhow (?:quickly|quick|soon|fast)\b|\bdeadlines?\b", re.I),
        re.compile(_NUMBER + r"|\b(?:days?|weeks?|months?|years?|hours?|as long as|until|period|promptly|"
                   r"immediately|practicable|reasonable time|no longer than|retain|retained|retention|"
                   r"respond to your request)\b", re.I),
    ),
    AnswerType(
        "date",
        re.compile(r"\bwhat date\b|\bwhen was\b|\bsince when\b|\b(?:which|what) year\b"
                   r"|\blast (?:updated|changed|revised)\b|\beffective date\b", re.I),
        re.compile(r"\b(?:19|20)\d\d\b|\b(?:january|february|march|april|june|july|august|september|october|"
                   r"november|december)\b", re.I),
    ),
    AnswerType("fax number", re.compile(r"\bfax\b", re.I), re.compile(r"\bfax\b", re.I)),
    AnswerType(
        "e-mail address",
        re.compile(r"\bwhat(?:'s| is) (?:the|your|their|its)\b[^?]*\be-?mail address\b"
                   r"|\be-?mail address (?:of|for)\b", re.I),
        re.compile(r"\S@\S"),
    ),
    AnswerType(
        "language",
        re.compile(r"\b(?:which|what) languages?\b|\bavailable in (?:english|french|german|spanish|dutch|italian|"
                   r"portuguese|chinese|arabic|japanese|russian|turkish|polish|other languages)\b", re.I),
        re.compile(r"\blanguages?\b|\b(?:English|French|German|Spanish|Dutch|Italian|Portuguese|Chinese|Arabic)\b"),
    ),
    AnswerType(
        "person's name",
        re.compile(r"\bname of (?:the|your|their|its)\b.*\b(?:officer|manager|director|ceo|head|president|"
                   r"chief|controller|counsel|dpo|founder|chair|chairman|owner)\b|\bofficer'?s name\b"
                   r"|\b(?:full name|need a name|their names?|his name|her name)\b", re.I),
        # Our documents name roles, not people; a person would come with a title or an initial.
        re.compile(r"\b(?:Mr|Mrs|Ms|Dr)\.? [A-Z]|\b[A-Z][a-z]+ [A-Z]\. [A-Z][a-z]+"),
    ),
)


#: "How can I find out when the notice was last changed" asks for a way, not the date.
_ASKS_FOR_A_WAY = re.compile(
    r"\b(?:how (?:do|can|could|would|should|will) (?:i|we|you)|where (?:do|can|could|should) (?:i|we))\b.*"
    r"\b(?:find|tell|check|see|know|learn|look)\b",
    re.I,
)


def asked_types(question: str) -> list[AnswerType]:
    """The kinds of fact ``question`` asks for (usually none)."""
    if _ASKS_FOR_A_WAY.search(question):
        return []
    return [t for t in ANSWER_TYPES if t.asked.search(question)]


#: Phone numbers and postal addresses ("Plantin en Moretuslei 299, 2140 Antwerpen") are
#: digits but state no count, price, time or date.
_PHONE_NUMBER = re.compile(r"\+?\d[\d\s().\-/]{6,}\d|\b\d{1,4}[a-z]?,\s*\d{4,5}\s+[A-Z][a-z]+")


def missing_types(question: str, passage_text: str) -> list[str]:
    """Names of the kinds of fact the question asks for that the passage never states."""
    asked = asked_types(question)
    if not asked:
        return []
    text = _PHONE_NUMBER.sub(" ", passage_text)
    return [t.name for t in asked if not t.stated.search(text)]


def states_any(asked: list[AnswerType], text: str) -> bool:
    """Whether ``text`` states at least one of the ``asked`` kinds of fact."""
    if not asked:
        return False
    text = _PHONE_NUMBER.sub(" ", text)
    return any(t.stated.search(text) for t in asked)
