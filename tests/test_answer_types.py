"""Expected answer types: a question asking for a price, count, date, fax number or a
person's name is not answered from a passage that states none, and questions asking how
to find something, or on topics the passage does cover, are left alone."""

from __future__ import annotations

import pytest

from bot.retrieval import Retriever
from bot.retrieval.answer_types import asked_types, missing_types


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("how much does it cost to get a replacement member card", ["price"]),
        ("is there a fee for calling the assistance line", ["price"]),
        ("how many claims can I send per month", ["count"]),
        ("how long will you take to reply to my email", ["duration"]),
        ("how fast do you reply to emails?", ["duration"]),
        ("is there a deadline for sending a claim?", ["duration"]),
        ("when was this notice last updated", ["date"]),
        ("what is your fax number", ["fax number"]),
        ("what's the name of the data protection officer", ["person's name"]),
        ("is the app free to download", ["price"]),
        ("what's the maximum you pay for a hospital room", ["limit"]),
        ("what is the e-mail address of the claims team", ["e-mail address"]),
        ("which languages is the app in", ["language"]),
        ("I need the full name of your privacy officer", ["person's name"]),
        ("how do I send a claim", []),
        ("will you pass my email address on to other companies", []),  # mentions one, asks for none
        ("can I limit how my data is used", []),
        ("how can I find out when the notice was last updated", []),  # asks for a way, not the date
        ("where can i see how much my plan pays back", []),
        ("what is your phone number", []),  # "see your member card" answers it
        ("who is the data protection officer and how do I reach them", []),  # a role answers it
    ],
)
def test_asked_types(question: str, kinds: list[str]) -> None:
    assert [t.name for t in asked_types(question)] == kinds


def test_a_passage_states_the_fact_or_not() -> None:
    assert missing_types("how much does it cost", "Requests are free of charge.") == []
    assert missing_types("how much does it cost", "Send the form by e-mail.") == ["price"]
    # "hassle-free" and "feel free" name no price; "toll-free" does.
    assert missing_types("is it free?", "We aim for a rapid and hassle-free settlement.") == ["price"]
    assert missing_types("is it free?", "Please feel free to Contact Us.") == ["price"]
    assert missing_types("is it free?", "Call us toll-free at 1.800.234.4077.") == []
    assert missing_types("how long do you take to reply", "We reply within two working days.") == []
    assert missing_types("how long will you take", "We will respond to your request consistent with law.") == []
    assert missing_types("how many attempts before I am locked out", "Call us at +32 3 217 68 68.") == ["count"]
    assert missing_types("how long do they have to reply", "Write to Plantin en Moretuslei 299, 2140 Antwerpen, "
                         "Belgium.") == ["duration"]  # a street number and a postcode are no time
    assert missing_types("when was it last updated", "Effective date: 1 May 2018") == []
    assert missing_types("when was it last updated", "We may change this statement.") == ["date"]


def test_the_retriever_does_not_answer_on_topic_questions_its_passage_cannot(retriever: Retriever) -> None:
    for question in (
        "what is the fax number for sending claims",
        "how many failed logins before my account is locked",
        "when was the international sos privacy statement last updated",
    ):
        answer = retriever.answer(question)
        assert answer.band != "answer", (question, answer.hits[0].passage.id)
    # The same topics asked the way the documents answer them still get answered.
    for question in ("how will i get my settlement note", "i can't log in", "does isos share my data abroad"):
        assert retriever.answer(question).band == "answer", question
