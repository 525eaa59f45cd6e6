"""Review data outside the pages: grouping with the index encoder, the export into the
data files, retention and erasure of review data, and `bot learn` refusing a change
that makes a held-out figure worse."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, insert

from bot.cli import main as cli_main
from bot.evaluation import labelled
from bot.evaluation.stories import load_stories
from bot.privacy.retention import EVENTS, erase, purge
from bot.requests import RequestStore
from bot.requests.models import Base
from bot.review.export import add_alternate_questions, add_out_of_scope, export
from bot.review.grouping import QuestionGrouper
from bot.review.store import AnswerFilters, ReviewStore
from bot.settings import Settings
from bot.training.learn import SetFigures, learn, threshold_note, worse

PASSAGE = "cigna-health-benefits-member-faq#general-information-2"
NOW = datetime.now(UTC)


def test_similar_questions_share_a_group_and_each_wording_is_embedded_once(retriever) -> None:
    calls: list[list[str]] = []

    def encode(texts: list[str]):  # noqa: ANN202 - numpy array
        calls.append(list(texts))
        return retriever.index.encoder.encode(texts)

    grouper = QuestionGrouper(encode)
    items = list(enumerate([
        "Is acupuncture covered by my plan?",
        "is acupuncture covered by my plan",
        "does my plan cover acupuncture",
        "how do I reset my password",
        "I forgot my password, how can I reset it?",
        "what is the weather forecast",
    ]))
    groups = grouper.group(items)
    by_key = {key: g.label for g in groups for key in g.keys}
    assert by_key[0] == by_key[1] == by_key[2]
    assert by_key[3] == by_key[4] != by_key[0]
    assert by_key[5] not in (by_key[0], by_key[3])
    assert groups[0].size == 3 and groups[0].wordings["is acupuncture covered by my plan"] == 2
    assert sum(len(c) for c in calls) == 5  # the two spellings of one question are one wording
    grouper.group(items)
    assert len(calls) == 1  # the second time every vector comes from the cache


def test_export_adds_lines_where_they_belong_and_keeps_the_comments(tmp_path: Path, settings: Settings) -> None:
    documents = tmp_path / "documents"
    shutil.copytree(settings.documents_dir, documents)
    questions = documents / "passage_questions.yml"
    before = questions.read_text(encoding="utf-8")
    written = add_alternate_questions(questions, [
        (PASSAGE, "how quickly do you answer e-mails?"),
        (PASSAGE, "How can I contact Cigna?"),  # already there
        ("cigna-website-privacy-policy#new-passage-1", 'a "quoted" question: with colons'),
    ])
    assert written == (2, 1)
    after = questions.read_text(encoding="utf-8")
    assert after.startswith(before.split("\n", 3)[0])
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == [
        line for line in after.splitlines() if line.lstrip().startswith("#")
    ]
    loaded = yaml.safe_load(after)["passages"]
    assert loaded[PASSAGE][-1] == "how quickly do you answer e-mails?"
    assert loaded["cigna-website-privacy-policy#new-passage-1"] == ['a "quoted" question: with colons']
    assert add_out_of_scope(documents / "out_of_scope.yml", ["Will it rain this weekend?", "is my dog insured"]) == (
        1, 1
    )
    assert yaml.safe_load((documents / "out_of_scope.yml").read_text())["examples"][-1] == "is my dog insured"


def test_only_the_latest_verdict_on_an_answer_is_exported(tmp_path: Path, settings: Settings) -> None:
    documents = tmp_path / "documents"
    shutil.copytree(settings.documents_dir, documents)
    with RequestStore(f"sqlite:///{tmp_path}/r.db") as store:
        store.create_schema()
        review = ReviewStore(store)
        answer = store.get_answer(store.record_answer("c1", "can my cat be insured", None, 0.1, "abstain"))
        review.add_action(answer, "rita", "passage", passage_id=PASSAGE)
        review.add_action(answer, "rita", "out_of_scope")
        review.add_action(answer, "rita", "story", story={"story": "s", "steps": [{"user": "can my cat be insured"}]})
        report = export(review.actions(pending=True), documents, tmp_path / "reviewed.yml")
    assert (report.written["passage"], report.written["out_of_scope"], report.written["story"]) == (0, 1, 1)
    assert "can my cat be insured" not in (documents / "passage_questions.yml").read_text()
    [(name, story)] = load_stories([tmp_path / "reviewed.yml"])  # as the story runner reads it
    assert name == "reviewed.yml" and story["steps"] == [{"user": "can my cat be insured"}]


def test_review_export_command_writes_and_audits(tmp_path: Path, settings: Settings, monkeypatch, capsys) -> None:
    documents = tmp_path / "documents"
    shutil.copytree(settings.documents_dir, documents)
    url = f"sqlite:///{tmp_path}/r.db"
    with RequestStore(url) as store:
        store.create_schema()
        answer = store.get_answer(store.record_answer("c1", "who can I phone about my claim", None, 0.2, "abstain"))
        ReviewStore(store).add_action(answer, "rita", "passage", passage_id=PASSAGE)
    monkeypatch.setenv("BOT_DATABASE_URL", url)
    assert cli_main(["review", "export", "--documents", str(documents), "--stories", str(tmp_path / "s.yml")]) == 0
    assert "alternate questions      1 written" in capsys.readouterr().out
    assert "who can I phone about my claim" in yaml.safe_load((documents / "passage_questions.yml").read_text())[
        "passages"][PASSAGE]
    with RequestStore(url) as store:
        review = ReviewStore(store)
        assert [e.action for e in review.audit_entries()] == ["export"]
        assert len(review.actions(pending=True)) == 1  # applied only by `bot learn`


def _tracker(path: Path, sender: str, text: str) -> str:
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    EVENTS.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(EVENTS).values(sender_id=sender, type_name="user", timestamp=NOW.timestamp(),
                                                 data=json.dumps({"event": "user", "text": text})))
    engine.dispose()
    return url


def test_retention_and_erasure_cover_review_actions_and_the_audit_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    settings = Settings.from_env(var_dir=tmp_path, database_url=url,
                                 tracker_store_url=_tracker(tmp_path / "t.db", "mentioned", "I am jo@example.org"))
    old = NOW - timedelta(days=400)
    with RequestStore.from_settings(settings) as store:  # with the member-key secret erasure uses
        store.create_schema()
        review = ReviewStore(store)
        for conversation, when in (("old", old), ("recent", NOW), ("mentioned", NOW), ("linked", NOW)):
            answer = store.get_answer(store.record_answer(conversation, f"question {conversation}", None, 0.1,
                                                          "abstain", now=when))
            review.add_action(answer, "rita", "out_of_scope", now=when)
        review.audit("rita", "view", "/agent/review/", now=old)
        review.audit("rita", "view", "/agent/review/", now=NOW)
        store.submit("handoff", {"topic": "claims", "email": "jo@example.org"}, conversation_id="linked")
    report = purge(settings, 365)
    assert (report.counts["review_actions"], report.counts["audit_entries"]) == (1, 1)
    report = erase(settings, email="jo@example.org")
    assert report.counts["review_actions"] == 2  # the linked conversation's and the mentioned one's
    with RequestStore(url) as store:
        review = ReviewStore(store)
        assert [a.conversation_id for a in review.actions()] == ["recent"]
        assert len(review.audit_entries()) == 1


def test_a_figure_that_falls_is_named() -> None:
    before = [SetFigures("h1.yml", 80, 60, 0.9, 0.8, 0.95), SetFigures("h2.yml", 80, 60, 0.9, 0.8, 0.95)]
    after = [SetFigures("h1.yml", 80, 60, 0.91, 0.8, 0.95), SetFigures("h2.yml", 80, 60, 0.9, 0.8, 0.9333)]
    assert worse(before, before) == []
    assert worse(before, after) == ["h2.yml: out of scope not answered 0.950 -> 0.933"]


def test_learn_refuses_a_change_that_makes_a_held_out_figure_worse(
    tmp_path: Path, settings: Settings, retriever
) -> None:
    """A held-out out-of-scope question linked to a passage gets answered: refused, nothing replaced.

    The question is the abstained one the assistant comes nearest to answering, linked to
    its best passage: with the index's new alternate question it crosses the threshold
    even though the answer reader is not refitted."""
    held_out = next(s for s in labelled.sets(labelled.HELD_OUT) if s.language == "en")
    abstained = [a for a in map(retriever.answer, held_out.out_of_scope) if not a.answered and a.best]
    nearest = max(abstained, key=lambda a: a.confidence)
    question, passage = nearest.question, nearest.best.passage.id
    shutil.copytree(settings.documents_dir, tmp_path / "documents")
    shutil.copytree(settings.index_dir, tmp_path / "index")
    # English held-out figures only: the multilingual vectors (the slowest rebuild) stay out.
    copies = Settings.from_env(documents_dir=tmp_path / "documents", index_dir=tmp_path / "index",
                               var_dir=tmp_path / "var", database_url=f"sqlite:///{tmp_path}/r.db",
                               multilingual=False)
    shipped = (tmp_path / "documents" / "passage_questions.yml").read_text()
    manifest = (tmp_path / "index" / "manifest.json").read_text()
    with RequestStore.from_settings(copies) as store:
        store.create_schema()
        answer = store.get_answer(store.record_answer("c1", question, None, 0.05, "abstain"))
        ReviewStore(store).add_action(answer, "rita", "passage", passage_id=passage)
    lines: list[str] = []
    code = learn(copies, reader=False, held_out=[held_out.path], story_file=tmp_path / "s.yml", out=lines.append)
    printed = "\n".join(lines)
    assert code == 1, printed
    assert "refused: a held-out figure got worse" in printed and "out of scope not answered" in printed
    assert f"| {held_out.name} |" in printed
    assert (tmp_path / "documents" / "passage_questions.yml").read_text() == shipped
    assert (tmp_path / "index" / "manifest.json").read_text() == manifest
    with RequestStore.from_settings(copies) as store:
        review = ReviewStore(store)
        assert len(review.actions(pending=True)) == 1
        assert review.audit_entries()[0].action == "learn.refused"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RequestStore]:
    """An empty request store on each back end."""
    url = f"sqlite:///{tmp_path / 'r.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    store = RequestStore(url)
    Base.metadata.drop_all(store.engine)
    store.create_schema()
    yield store
    store.close()


def test_review_queries_work_alike_on_sqlite_and_postgresql(any_store: RequestStore) -> None:
    store, review = any_store, ReviewStore(any_store)
    old = NOW - timedelta(days=10)
    down = store.record_answer("c1", "how do I claim", PASSAGE, 0.6, "answer", now=old)
    store.record_feedback(helpful=False, answer_id=down)
    store.record_answer("c1", "100% sure_thing?", None, 0.2, "abstain", now=NOW)
    other = store.record_answer("c2", "claim form", "cigna-website-privacy-policy#x-1", 0.9, "answer", now=NOW)
    store.submit("callback", {"phone": "+3232176868"}, conversation_id="c1")
    review.add_action(store.get_answer(other), "rita", "story", story={"story": "s", "steps": [{"user": "é"}]})

    def total(**filters: object) -> int:
        return review.answers(AnswerFilters(**filters), 10, 0)[1]

    assert total() == 3
    assert total(band="abstain") == 1 and total(thumbs_down=True) == 1 and total(handed_over=True) == 2
    assert total(low_confidence_below=0.7) == 1 and total(document="cigna-health-benefits-member-faq") == 1
    assert total(since=NOW.date()) == 2 and total(until=old.date()) == 1 and total(unreviewed=True) == 2
    rows, _ = review.answers(AnswerFilters(), 10, 0)
    assert [r.handed_over for r in rows] == [False, True, True] and rows[0].actions == ("story",)
    assert [q for _, q in review.matching_questions(AnswerFilters(band="abstain"))] == ["100% sure_thing?"]
    assert len(review.logged(NOW - timedelta(days=1))) == 2 and review.handed_over() == {"c1"}
    assert review.actions(pending=True)[0].story == {"story": "s", "steps": [{"user": "é"}]}
    assert review.mark_exported([a.id for a in review.actions()]) == 1 and review.actions(pending=True) == []


def test_learn_says_when_the_refitted_confidence_suggests_other_thresholds(tmp_path: Path) -> None:
    stage = Settings.from_env(documents_dir=tmp_path, answer_threshold=0.5, clarify_threshold=0.43)
    (tmp_path / "confidence.yml").write_text("fitted:\n  suggested_thresholds: {clarify: 0.43, answer: 0.5}\n")
    assert threshold_note(stage) == ""
    (tmp_path / "confidence.yml").write_text("fitted:\n  suggested_thresholds: {clarify: 0.57, answer: 0.79}\n")
    assert "answer >= 0.79 (configured: 0.43, 0.5)" in threshold_note(stage)
