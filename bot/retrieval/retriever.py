"""Answer a member's question from our passages, with citations and a confidence band.

Ranking is hybrid: the cosine similarity of the question and passage embeddings plus a
saturated BM25 score over spelling-repaired, synonym-expanded terms. The confidence is
a probability that the question is one our documents answer, from a logistic model
(:class:`ConfidenceModel`, fitted by `bot calibrate`) over the best passage's cosine and
keyword scores, *coverage* (how much of the question our documents have words for) and
the similarity to the nearest known out-of-scope question, because the dense score alone
does not separate questions we can answer from ones we cannot. Three bands follow:

* ``answer``: cite the best passage, leading with the sentences of it that answer the
  question (its *highlight*, :func:`highlight_sentences`), quoted exactly;
* ``clarify``: we are unsure, or the question is one word; offer the top options and let
  the member pick;
* ``abstain``: say we do not know and offer contact options.

A confident answer whose passage lacks the kind of fact the question asks for (a price,
a count, a date: bot/retrieval/answer_types.py) is not given: the other options are offered if
one of them states it, else we abstain.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import yaml
from threadpoolctl import threadpool_limits

from bot.knowledge.chunker import Passage, split_sentences
from bot.knowledge.documents import load_documents
from bot.knowledge.index import KnowledgeIndex, load_index
from bot.privacy.cards import CARD_PLACEHOLDER, CODE_PLACEHOLDER, EXPIRY_PLACEHOLDER
from bot.privacy.logmask import EMAIL_ADDRESS
from bot.retrieval.adapter import ADAPTER_FILE, QueryAdapter
from bot.retrieval.answer_types import asked_types, missing_types, states_any
from bot.retrieval.confidence import (
    CONFIDENCE_FILE,
    KEYWORD_SATURATION,
    Band,
    ConfidenceModel,
    confidence_features,
    decide_band,
)
from bot.retrieval.keywords import BM25, Synonyms, terms
from bot.retrieval.reader import READER_FILE, AnswerReader
from bot.settings import Settings

Mode = Literal["hybrid", "dense", "keyword"]

#: Questions longer than this are cut before embedding (the model reads 256 pieces).
MAX_QUERY_CHARS = 1000
#: Weight of the keyword score in the hybrid ranking, and its saturation constant.
#: Chosen with the query adapter in place: questions.yml and PolicyQA rank alike from
#: (0.35, 10) to (0.8, 30); (0.35, 6), the best choice without the adapter, costs
#: questions.yml hit@1 0.005 and PolicyQA hit@3 0.009 with it.
KEYWORD_WEIGHT = 0.5
#: What a passage loses in the hybrid ranking when the question names organisations
#: (documents.yml `names`) other than its document's: chosen on questions.yml, where
#: 0.15 to 1.0 rank alike; 0.2 still lets a much better match from another one win.
ORGANISATION_PENALTY = 0.2
#: What another organisation's passage loses than the one the assistant speaks for
#: (Settings.own_organisation) for a question that names none and asks "you" / "your".
ADDRESSED_PENALTY = 0.05
_ADDRESSES_US = re.compile(r"\b(?:you|your|yours|u|ur|we|us|our)\b", re.IGNORECASE)
#: A question naming an organisation is ranked on this share of its ranking without the
#: name(s), the rest with them. The name already picks the documents (the penalty
#: above), and in the embedding it outweighs what is asked: every passage of the named
#: notice scores alike, and "could Cigna International Health Services send my data to
#: another country" ranked the notice's fraud passage above its transfers abroad.
#: Measured on the training, tuning and calibration sets (hit@1 0.925, 0.917, 0.966 with
#: the names only; 0.933, 0.922, 0.978 at 0.2; 0.940, 0.937, 0.978 at 0.4); without the
#: names only (1.0), calibration falls to 0.944: they do tell the documents apart. Above
#: 0.2, "does cigna sell my personal information?" loses the online notice's "will not
#: sell": without the name it matches an alternate question of the sharing passage, as
#: closely as the California one's "Does Cigna sell my data to marketers?" does with it.
NAME_BLEND = 0.2
#: How many passages either side of a passage, in its section, count as its neighbours.
NEIGHBOUR_REACH = 2
#: A neighbour of the best passage, in its section, ranking within PASSAGE_TIE of it, is
#: cited instead when its best sentence scores SIBLING_MARGIN higher (the highlight's
#: scoring). Chosen on the labelled conversation sets (tests/story_sets) and checked on
#: the labelled question sets: a margin of 0 or a wider tie cites the wrong neighbour
#: more often than the right one.
PASSAGE_TIE = 0.1
SIBLING_MARGIN = 0.3
#: Passages longer than this many words are shortened to their best sentences.
LONG_PASSAGE_WORDS = 90
#: Weight of term overlap (the share of the question's terms a sentence has) against
#: the sentence's cosine with the question, when choosing the highlight.
HIGHLIGHT_OVERLAP_WEIGHT = 0.5
#: A sentence with this many commas is an enumeration (see highlight_sentences).
ENUMERATION_COMMAS = 5
#: A further sentence joins the highlight when it scores within this of the best one,
#: and the best of the rest when within HIGHLIGHT_RUNNER_UP: the answering sentence is
#: often the second best, and it costs the member a sentence more.
HIGHLIGHT_TIE = 0.1
HIGHLIGHT_RUNNER_UP = 0.4
#: The weight and the tie were chosen on tests/facts/highlight.yml and checked on
#: tests/facts/highlight-heldout*.yml; the runner-up margin on highlight.yml and the
#: development conversation sets (tests/story_sets, replayed offline without set 5: 0.3
#: passed 437 of 510 answer turns, 0.4 441, 0.5 442), checked on the held-out fact sets,
#: against the length (mean highlight on the fact sets 44.1 words at 0.3, 46.6 at 0.4).
#: The runner-up only follows the best sentence: the reply still leads with it.
#: What a sentence gains in the highlight's scoring when it states the kind of fact the
#: question asks for (a time for "how soon", a count for "how many": answer_types.py),
#: so that "how many countries?" leads with the sentence that has the number.
HIGHLIGHT_TYPE_BONUS = 0.3
#: A question asking for a way ("how do I find...", "where can I...") is answered by a
#: sentence saying what to do ("Log in to your personal webpages and search..."); one
#: asking about a case that does not hold ("what if you never had my email?") by a
#: sentence about that case ("Sometimes, we don't receive an email address"). Each such
#: sentence gains this much.
HIGHLIGHT_FORM_BONUS = 0.15
#: How many items of a list its introducing sentence brings into a highlight: the items
#: are the answer to "what do you collect?" (the longest such list has seven).
HIGHLIGHT_LIST_ITEMS = 8
_ASKS_HOW = re.compile(
    r"\b(?:how (?:do|can|could|should|would) (?:i|we)|how to|where (?:do|can|could|should) (?:i|we))\b", re.IGNORECASE
)
_SAYS_WHAT_TO_DO = re.compile(
    r"^(?:•\s*)?(?:please )?(?:log in|go to|click|visit|call|send|contact|search|fill|select|open|use|email|write|"
    r"complete|sign|ask|include|show|download|print)\b|\byou (?:can|may|should|need to|must) "
    r"(?:log|go|click|visit|call|send|contact|search|find|fill|select|use|email|write|ask|request|opt|download)\b",
    re.IGNORECASE,
)
#: A question asking what is needed ("what info do you need from me?", "what will
#: International SOS need?", "what should I include?") is answered by the sentence
#: saying what is needed ("We need to know the diagnosis, ...", "International SOS will
#: ask for proof of your identity"), not by one naming the form it goes in.
_ASKS_NEEDED = re.compile(
    r"\bwhat (?:\w+ ){0,3}(?:do|does|will|would|did) (?:you|they|it|we|cigna|\w+(?: sos)?) (?:\w+ )?"
    r"(?:need|needs|require|requires|want|ask for)\b|\bwhat (?:\w+ )?(?:do|should|must) i (?:need to |have to )?"
    r"(?:include|provide|send|give|bring|attach|show)\b|\bwhat (?:is|are|'s) (?:needed|required)\b",
    re.IGNORECASE,
)
_SAYS_NEEDED = re.compile(
    r"\b(?:we|they|you|it) (?:will |may |would )?(?:need|needs|require|requires|must|ask for|asks for)\b"
    r"|\b(?:will|may) ask (?:you )?for\b|\b(?:required|necessary|include them|please include)\b",
    re.IGNORECASE,
)
#: A question that asks what a list holds ("what kind of data does CIHS keep?", "which
#: information do you collect?"): a passage that is nothing but that list answers with all of it.
_ASKS_WHICH = re.compile(
    r"\bwhat (?:kinds?|types?|sorts?|categor(?:y|ies)) of\b|\bwhich (?:kinds?|types?|sorts?|data|information|info|"
    r"details)\b|\bwhat (?:personal )?(?:data|information|info|details)\b",
    re.IGNORECASE,
)
#: A sentence that tells the member what to do: an instruction ("Log in to ...", "Please
#: call us") or where to send it ("contact us using the following e-mail address").
_INSTRUCTS = re.compile(
    r"^(?:•\s*)?(?:please )?(?:log in|go to|click|visit|call|send|contact|search|fill|select|open|email|write|"
    r"complete|sign|download|print|submit)\b|\bcontact us (?:using|at|by|via|through|on)\b|"
    r"\bplease (?:contact|call|email|write|send|submit)\b",
    re.IGNORECASE,
)
#: "how does X work?", "what's the process?": asks how to go about it, like _ASKS_HOW,
#: and the passage that gives the way may rank up to PROCESS_TIE below the best, which
#: matches the thing's name more often ("Cigna sends a Guarantee of payment (GOP)...").
_ASKS_PROCESS = re.compile(
    r"\bhow (?:does|do|will|would) (?:\w+ ){1,5}work\b|\bwhat(?:'s| is) the (?:process|procedure)\b", re.I
)
PROCESS_TIE = 0.2
#: Where a passage gives the member a way to act: an e-mail address, a link, a button.
_GIVES_A_WAY = re.compile(r"\S@\S|https?://|\bclick\b", re.I)
#: A question asking how soon an answer comes ("how long does Cigna take to respond if I
#: ask them to delete my data?"), and a passage saying it ("We will respond to your
#: request consistent with applicable law", "within 48 hours"): of two neighbours within
#: PROCESS_TIE, the one that says when comes first.
_ASKS_RESPONSE_TIME = re.compile(
    r"\b(?:how (?:long|soon|quickly|fast)|when)\b.*\b(?:respond|response|reply|replies|answer|get back|hear)", re.I
)
_SAYS_RESPONSE_TIME = re.compile(
    r"\bwithin (?:a|an|one|two|three|five|ten|thirty|\(?\d+\)?)\b|\b(?:no later than|promptly|as soon as|"
    r"respond to your request)\b|\b\d+\)? ?(?:hours?|days?|weeks?|months?)\b",
    re.I,
)
NEGATION = re.compile(r"\b(?:not|no|never|without|don't|dont|didn't|didnt|doesn't|doesnt|haven't|havent|cannot|"
                       r"can't|cant|won't|isn't|aren't)\b|n[’']t\b", re.IGNORECASE)


@dataclass(frozen=True)
class Hit:
    """One retrieved passage with its scores."""

    passage: Passage
    score: float  # the ranking score of the mode used
    dense: float
    keyword: float

    def citation(self, text: str | None = None) -> dict:
        """The citation object of the JSON contract (``bot ask --jsonl``)."""
        return self.passage.citation(text, self.score)


@dataclass
class Answer:
    """What the assistant says to a question, and why."""

    question: str
    band: Band
    confidence: float
    text: str  # the answer text (empty when abstaining)
    hits: list[Hit] = field(default_factory=list)  # best first
    highlight: str = ""  # the cited passage's sentences that answer, verbatim (empty unless answered)
    language: str = "en"  # the question's language (ISO 639-1); the passages are English

    @property
    def answered(self) -> bool:
        """True only in the answer band: clarify and abstain do not claim an answer."""
        return self.band == "answer"

    @property
    def best(self) -> Hit | None:
        """The passage the answer cites, if any."""
        return self.hits[0] if self.hits else None

    @property
    def alternatives(self) -> list[Hit]:
        """Up to two other passages from other sections, for "did you mean"."""
        return self.hits[1:3]

    def to_dict(self) -> dict:
        """The JSON contract: question, answered, confidence, answer, citations."""
        citations = [h.citation() for h in self.hits[:3]]
        if self.answered and citations:
            citations[0]["text"] = self.text
        return {
            "question": self.question,
            "answered": self.answered,
            "band": self.band,
            "confidence": round(float(self.confidence), 4),
            "answer": self.text if self.answered else "",
            "highlight": self.highlight if self.answered else "",
            "citations": citations,
            "language": self.language,
        }


@dataclass(frozen=True)
class Evidence:
    """What we know about the question itself, besides its hits: how much of it our
    documents have words for, its similarity to the nearest out-of-scope example, and
    its token embeddings (for the answer reader)."""

    coverage: float
    oos: float
    tokens: np.ndarray
    vector: np.ndarray | None = None  # the question's embedding (1 x dimension)


def load_out_of_scope(settings: Settings, index: KnowledgeIndex) -> np.ndarray:
    """Embeddings of the out-of-scope examples (an empty matrix if there are none)."""
    path = settings.documents_dir / "out_of_scope.yml"
    examples = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("examples", []) if path.is_file() else []
    if not examples:
        return np.zeros((0, index.encoder.dimension), dtype=np.float32)
    return index.encoder.encode([str(e) for e in examples])


def hybrid_score(dense: np.ndarray, keyword: np.ndarray) -> np.ndarray:
    """The hybrid ranking score: cosine plus a saturated BM25 bonus."""
    return dense + KEYWORD_WEIGHT * keyword / (keyword + KEYWORD_SATURATION)


# Markup and terminal colour codes pasted around a question carry no meaning for it.
_MARKUP = re.compile(r"<(script|style)\b.*?</\1\s*>|</?[a-z][^<>]{0,300}>", re.IGNORECASE | re.DOTALL)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")
# What the channels leave where a member typed payment card data (bot/privacy/cards.py)
# says nothing about the question.
_REDACTED = re.compile("|".join(re.escape(p) for p in (CARD_PLACEHOLDER, EXPIRY_PLACEHOLDER, CODE_PLACEHOLDER)))


#: Emoji and other pictographs (So), skin-tone modifiers (Sk), joiners and variation
#: selectors (Cf, U+FE0F), private-use and stray surrogates: no word our documents could
#: match, and the model reads each as an unknown token that only blurs the question.
_NOT_WORDS = frozenset({"So", "Sk", "Cf", "Co", "Cs"})


def normalise_query(text: str) -> str:
    """Drop HTML tags (with script and style contents), terminal colour codes, emoji and
    the placeholders of removed card data; collapse white space and control characters;
    cut very long input."""
    text = _REDACTED.sub(" ", _MARKUP.sub(" ", _ANSI.sub(" ", text)))
    text = "".join(" " if c == "\ufe0f" or unicodedata.category(c) in _NOT_WORDS else c for c in text)
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text[:MAX_QUERY_CHARS]


class Retriever:
    """Search and answer over a loaded :class:`KnowledgeIndex`."""

    def __init__(self, index: KnowledgeIndex, synonyms: Synonyms, settings: Settings, fitting: bool = False) -> None:
        self.index = index
        self.synonyms = synonyms
        self.settings = settings
        # Kinds of question we cannot answer (data/documents/out_of_scope.yml).
        self.out_of_scope = load_out_of_scope(settings, index)
        # `fitting`: `bot reader` and `bot calibrate` refit what the confidence weighs, so
        # a confidence file for other evidence must not stop them.
        self.confidence_model = None if fitting else ConfidenceModel.load(settings.documents_dir / CONFIDENCE_FILE)
        # Moves questions toward the passage text that answers them (bot/retrieval/adapter.py).
        self.adapter = (
            QueryAdapter.load(settings.documents_dir / ADAPTER_FILE, settings.embedding_model)
            if settings.query_adapter
            else None
        )
        # Reads whether the passage we would cite states what is asked (bot/retrieval/reader.py);
        # None until `bot reader` has fitted one (answering then says to run it).
        reader_path = settings.documents_dir / READER_FILE
        self.reader = AnswerReader.load(reader_path, settings.embedding_model) if reader_path.is_file() else None
        self._passage_prepared = [self.reader.prepare(t) for t in index.passage_tokens] if self.reader else []
        # The reader's matrices are tiny (tens of rows): OpenBLAS waking its threads for
        # them cost 6 ms per answer on two cores (answer p50 17 ms against 11 ms with one
        # thread). Same reasoning as Settings.embedding_threads.
        threadpool_limits(max(settings.embedding_threads, 1), user_api="blas")
        # Which documents a question names, by the names members use for their organisation.
        self._document_names = {
            d.id: re.compile(
                r"\b(?:" + "|".join(re.escape(n) for n in sorted(d.names, key=len, reverse=True)) + r")\b",
                re.IGNORECASE,
            )
            for d in load_documents(settings.documents_dir)
            if d.names
        }
        # The e-mail addresses our documents give ("privacy.europe@cigna.com"): any other
        # in a question is the member's own (see :meth:`rank`).
        self._document_addresses = {a.lower() for p in index.passages for a in EMAIL_ADDRESS.findall(p.text)}
        self._passage_documents = np.array([p.doc_id for p in index.passages])
        self._passage_position = {p.id: i for i, p in enumerate(index.passages)}
        # Alternate questions join the keyword side too (document expansion).
        self.bm25 = BM25(" ".join([p.embedding_text(), *index.questions.get(p.id, [])]) for p in index.passages)
        # Each passage's sentences and their embeddings, for the highlight; filled the
        # first time a passage is cited (a few milliseconds, then free).
        self._sentence_vectors: dict[str, tuple[list[str], np.ndarray]] = {}
        # Questions in other languages (bot/language/crosslingual.py), when loaded.
        self.crosslingual = None

    @classmethod
    def from_settings(cls, settings: Settings, fitting: bool = False) -> Retriever:
        """Load the verified index and the synonym list named by the settings, and the
        cross-lingual retriever unless ``settings.multilingual`` is off."""
        index = load_index(settings)
        synonyms = Synonyms.load(settings.documents_dir / "synonyms.yml")
        retriever = cls(index, synonyms, settings, fitting)
        if settings.multilingual:
            from bot.language.crosslingual import CrossLingualRetriever

            retriever.crosslingual = CrossLingualRetriever.from_settings(index, settings, fitting)
        return retriever

    @property
    def passages(self) -> list[Passage]:
        """All passages, in document order."""
        return self.index.passages

    # ------------------------------------------------------------------ scoring

    def _keyword_terms(self, query: str) -> tuple[list[str], dict[str, float]]:
        own = self.bm25.query_terms(query)
        weights = {t: 1.0 for t in own}
        for t in terms(" ".join(self.synonyms.expand(query))):
            weights.setdefault(t, 0.5)  # expansions count, but less than the member's words
        return list(weights), weights

    def _scores(self, query: str) -> tuple[np.ndarray, np.ndarray, Evidence]:
        """Dense cosine and raw BM25 for every passage, and the question's own evidence."""
        query = self.synonyms.spell_out(query)  # "isos" -> "International SOS", for every side
        # The model does not know our abbreviations ("does isos use my data for marketing":
        # cosine 0.44 against 0.85 written out). Embedding them written out ranks
        # questions.yml alike now that the query adapter is in (without it, hit@1 fell
        # 0.903 -> 0.893) and lets the confidence tell more members from out-of-scope
        # questions (pooled room on the worse target +0.003 -> +0.008).
        dense, keyword, vector, tokens = self._ranking_scores(query)
        oos = float((self.out_of_scope @ vector[0]).max()) if len(self.out_of_scope) else -1.0
        return dense, keyword, Evidence(self.bm25.coverage(query, self.synonyms), oos, tokens, vector)

    def _ranking_scores(self, spelled: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense cosine and raw BM25 for every passage, and the question's embedding and
        token embeddings, for a question with its abbreviations written out."""
        vector, tokens = self.index.encoder.encode_with_tokens(spelled)
        dense = self.index.dense_scores(vector, self.adapter.apply(vector) if self.adapter else None)
        all_terms, weights = self._keyword_terms(spelled)
        return dense, self.bm25.scores(all_terms, weights), vector, tokens

    def unnamed_passages(self, query: str) -> np.ndarray | None:
        """Mask of the passages whose organisation the question leaves out when it names
        some but not all of them ("can isos send my data abroad": every Cigna passage),
        else None. Several documents answer the same kind of question for different
        organisations; the member saying whose answer they want is the best evidence."""
        named = self.named_documents(query)
        if not named or len(named) == len(self._document_names):
            return None
        return ~np.isin(self._passage_documents, named)

    def named_documents(self, query: str) -> list[str]:
        """The documents whose organisation ``query`` names. A name inside a longer name
        of another document's organisation names only that one: "cigna" names every
        Cigna document, "cigna international" only those of Cigna International Health
        Services."""
        spans = {doc: [m.span() for m in p.finditer(query)] for doc, p in self._document_names.items()}
        every = [span for found in spans.values() for span in found]

        def inside_longer(span: tuple[int, int]) -> bool:
            return any(s <= span[0] and span[1] <= e and (e - s) > (span[1] - span[0]) for s, e in every)

        return [doc for doc, found in spans.items() if any(not inside_longer(span) for span in found)]

    def without_other_names(self, text: str, naming: str) -> str:
        """``text`` without the organisation names that ``naming`` leaves out, when it
        names some: "what does cigna collect? and international sos?" asks about
        International SOS only."""
        named = {self._document_names[doc].pattern for doc, p in self._document_names.items() if p.search(naming)}
        if not named:
            return text
        return self.without_names(text, keep=named)

    def without_names(self, query: str, keep: Collection[str] = ()) -> str:
        """``query`` without any organisation's name (documents.yml `names`), but for
        those whose pattern is in ``keep``."""
        for pattern in {p.pattern: p for p in self._document_names.values()}.values():
            if pattern.pattern not in keep:
                query = pattern.sub(" ", query)
        return " ".join(query.split())

    def hybrid_ranking(self, query: str, dense: np.ndarray, keyword: np.ndarray) -> np.ndarray:
        """The shipped ranking score of every passage: hybrid, lowered for passages of
        organisations the question leaves out while naming others."""
        ranking = hybrid_score(dense, keyword)
        unnamed = self.unnamed_passages(query)
        if unnamed is None and _ADDRESSES_US.search(query):
            # "how do I ask you to delete my data?" asks the organisation the member is
            # talking to: its own documents' passages come first when nearly as good.
            own = self.unnamed_passages(self.settings.own_organisation)
            return ranking if own is None else ranking - ADDRESSED_PENALTY * own
        return ranking if unnamed is None else ranking - ORGANISATION_PENALTY * unnamed

    def search(self, query: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        """The ``k`` best passages for ``query`` under ``mode``, best first."""
        return self.rank(normalise_query(query), k, mode)[0]

    def rank(self, query: str, k: int = 5, mode: Mode = "hybrid") -> tuple[list[Hit], Evidence]:
        """The ``k`` best passages for an already normalised ``query``, best first, and the
        question's own evidence (what :meth:`confidence` weighs besides the hit)."""
        if not query:
            return [], Evidence(0.0, -1.0, np.zeros((0, self.index.encoder.dimension), dtype=np.float32))
        # A member's own e-mail address says nothing about what they ask, and its odd
        # tokens pull the question away from every passage ("I registered with
        # raj.patel@gmail.com, where do I find my activation code?" was abstained on).
        query = EMAIL_ADDRESS.sub(
            lambda m: m.group(0) if m.group(0).lower() in self._document_addresses else "an email address", query
        )
        dense, keyword, evidence = self._scores(query)
        if mode == "dense":
            ranking = dense
        elif mode == "keyword":
            ranking = keyword
        else:
            ranking = self.hybrid_ranking(query, dense, keyword)
            unnamed = self.without_names(query)
            if unnamed and unnamed != query:
                # What is asked, without the names that outweigh it (NAME_BLEND).
                dense_asked, keyword_asked, *_ = self._ranking_scores(self.synonyms.spell_out(unnamed))
                ranking = (1 - NAME_BLEND) * ranking + NAME_BLEND * self.hybrid_ranking(
                    query, dense_asked, keyword_asked
                )
        order = np.argsort(-ranking, kind="stable")[:k]
        hits = [Hit(self.index.passages[i], float(ranking[i]), float(dense[i]), float(keyword[i])) for i in order]
        return hits, evidence

    # ------------------------------------------------------------------ answering

    def reader_score(self, hit: Hit, evidence: Evidence) -> float:
        """The answer reader's score for ``hit``'s passage answering the question."""
        if self.reader is None:
            raise RuntimeError(
                f"no {READER_FILE} in {self.settings.documents_dir}: run `bot reader`, then `bot calibrate`"
            )
        position = self._passage_position[hit.passage.id]
        return self.reader.score_prepared(evidence.tokens, self._passage_prepared[position])

    def features(self, hits: list[Hit], evidence: Evidence) -> np.ndarray:
        """The confidence evidence for the best hit (see CONFIDENCE_FEATURES)."""
        return confidence_features(hits[0], evidence.coverage, evidence.oos, self.reader_score(hits[0], evidence))

    def confidence(self, hits: list[Hit], evidence: Evidence) -> float:
        """How sure we are that the best hit answers the question, in [0, 1]: the
        calibrated probability that the question is one our documents answer."""
        if not hits:
            return 0.0
        if self.confidence_model is None:
            raise RuntimeError(
                f"no {CONFIDENCE_FILE} in {self.settings.documents_dir}: run `bot calibrate` to fit the confidence"
            )
        return self.confidence_model.probability(self.features(hits, evidence))

    def _documents_use(self, word: str) -> bool:
        """Whether our passages use ``word`` itself (or the term our shorthand spells out),
        not merely one spelt like it: "weather" is one edit from "whether"."""
        found = terms(self.synonyms.spell_out(word))
        return bool(found) and all(t in self.bm25.idf for t in found)

    def answer(self, question: str, k: int = 3, mode: Mode = "hybrid", language: str = "en",
               own: str | None = None) -> Answer:
        """Answer, clarify or abstain (see the module docstring). A question in another
        ``language`` than English is answered by the cross-lingual retriever when there is
        one, ranked on ``own`` words too when given (a follow-up's, read with the previous
        question: bot/language/conversation.py); the English reading weighs a follow-up's
        words in bot/dialogue/context.py instead."""
        if language != "en" and self.crosslingual is not None:
            answer = self.crosslingual.answer(question, k, own)
            answer.language = language
            return answer
        query = normalise_query(question)
        hits, evidence = self.rank(query, max(k, 3), mode)
        answer = self._answer(question, query, hits, self.confidence(hits, evidence), k, evidence.vector,
                              best_of_section=True)
        answer.language = language
        return answer

    def candidates(self, question: str, k: int = 5, also: Collection[str] = ()) -> list[Answer]:
        """Each of the ``k`` best passages, and the passages whose ids are in ``also``
        wherever they rank, as the answer it would be if it ranked first: its own
        confidence (the answer reader reading that passage) and band, by the same rules
        as :meth:`answer`; most confident first. For agents choosing a reply, and for a
        follow-up weighing the passages next to its topic."""
        query = normalise_query(question)
        ranked, evidence = self.rank(query, len(self.passages) if also else k)
        hits = [h for i, h in enumerate(ranked) if i < k or h.passage.id in also]
        answers = [
            self._answer(question, query, [hit, *others], self.confidence([hit], evidence), 1, evidence.vector)
            for i, hit in enumerate(hits)
            for others in [hits[:i] + hits[i + 1 :]]
        ]
        return sorted(answers, key=lambda a: (-a.confidence, -a.hits[0].score))

    def _answer(
        self, question: str, query: str, hits: list[Hit], confidence: float, k: int, vector: np.ndarray | None = None,
        best_of_section: bool = False,
    ) -> Answer:
        """The band for ``hits[0]`` at ``confidence`` (decide_band), and the text we quote:
        from the neighbour that answers better (:meth:`_best_of_section`) if asked."""
        one_word = len(query.split()) == 1
        band = decide_band(
            confidence,
            self.settings,
            has_hits=bool(hits),
            one_word=one_word,
            known_word=one_word and self._documents_use(query),
            fact_missing=bool(hits) and bool(missing_types(query, hits[0].passage.text)),
            fact_elsewhere=any(not missing_types(query, h.passage.text) for h in hits[1:3]),
        )
        if band == "answer" and vector is not None and best_of_section:
            hits = self._best_of_section(hits, query, vector)
        highlight = self.highlight(hits[0].passage, query, vector) if band == "answer" else ""
        if highlight and best_of_section and _ANNOUNCES.search(highlight):
            # The section's introduction matched, and what it quotes only announces the
            # answer ("Here's some advice on how to contact us."): the passage after it
            # gives it.
            first, *after = self.neighbours(hits[0].passage.id, 1)
            if first.id == hits[0].passage.id and after:
                hits = [Hit(after[0], hits[0].score, hits[0].dense, hits[0].keyword),
                        *(h for h in hits if h.passage.id != after[0].id)]
                highlight = self.highlight(hits[0].passage, query, vector)
        text = best_sentences(hits[0].passage, query) if band == "answer" else ""
        return Answer(question=question, band=band, confidence=confidence, text=text, hits=hits[:k],
                      highlight=highlight)

    def passage(self, passage_id: str | None) -> Passage | None:
        """The passage with this id, if any."""
        position = self._passage_position.get(passage_id or "")
        return None if position is None else self.passages[position]

    def neighbours(self, passage_id: str | None, reach: int = NEIGHBOUR_REACH) -> list[Passage]:
        """The passages of the same section within ``reach`` places of ``passage_id``'s
        (itself included), in document order; none for an unknown id. The chunker cuts a
        long section into passages, and what a question asks is often in the one beside
        the passage that matched it best as a whole: the steps of a guarantee of payment
        run over three passages, each repeating the section's introduction."""
        position = self._passage_position.get(passage_id or "")
        if position is None:
            return []
        own = self.passages[position]
        near = self.passages[max(position - reach, 0) : position + reach + 1]
        return [p for p in near if p.doc_id == own.doc_id and p.section == own.section]

    def sentence_match(self, passage: Passage, query: str, vector: np.ndarray) -> float:
        """How well ``passage``'s best sentence answers ``query`` (:func:`sentence_scores`;
        a list's introduction is never the best), ``vector`` being the question's embedding."""
        sentences, vectors = self.sentence_vectors(passage)
        scores = sentence_scores(sentences, vectors @ np.asarray(vector, dtype=np.float32).reshape(-1), query)
        eligible = [i for i, text in enumerate(sentences) if not text.endswith(":")] or list(range(len(sentences)))
        return float(scores[eligible].max())

    def _best_of_section(self, hits: list[Hit], query: str, vector: np.ndarray) -> list[Hit]:
        """``hits`` with a neighbour of the best passage (:meth:`neighbours`) moved first
        when it ranks within :data:`PASSAGE_TIE` of it and its best sentence answers the
        question better by :data:`SIBLING_MARGIN`. Passages cut from one section share
        its introduction and its words, so the ranking hardly tells them apart, while
        one sentence ("We need to know the diagnosis, the planned treatment...") does.
        A question asking how to do something ("how do I complain to International
        SOS?") moves first the tied neighbour that gives a way to do it (an e-mail
        address, a link, a button: :data:`_GIVES_A_WAY`) when the best passage gives
        none: the member asked how, and the passage describing the procedure without
        the address leaves them where they started. "how does X work?" does so in the
        wider :data:`PROCESS_TIE`; a question asking what is needed moves first the tied
        neighbour saying what is needed (:data:`_SAYS_NEEDED`), and one asking how soon an
        answer comes the neighbour saying when, in the wider tie
        (:data:`_SAYS_RESPONSE_TIME`)."""
        best = hits[0]
        section = (best.passage.doc_id, best.passage.section)

        def siblings(tie: float) -> list[Hit]:
            return [h for h in hits[1:3] if h.score >= best.score - tie
                    and (h.passage.doc_id, h.passage.section) == section]

        tied = siblings(PASSAGE_TIE)
        # "how does the guarantee of payment work?" asks for the procedure: the step
        # that starts it, in a wider tie, as members read it.
        reach = PASSAGE_TIE if _ASKS_HOW.search(query) else PROCESS_TIE if _ASKS_PROCESS.search(query) else None
        for asked, pool, gives in (
            (reach is not None, siblings(reach or 0.0), _GIVES_A_WAY),
            (bool(_ASKS_NEEDED.search(query)), tied, _SAYS_NEEDED),  # "what do you need for a gop?"
            (bool(_ASKS_RESPONSE_TIME.search(query)), siblings(PROCESS_TIE), _SAYS_RESPONSE_TIME),
        ):
            if asked and not gives.search(best.passage.text):
                first = next((h for h in pool if gives.search(h.passage.text)), None)
                if first is not None:
                    return [first, *(h for h in hits if h is not first)]
        near = {p.id for p in self.neighbours(best.passage.id)}
        rivals = [h for h in tied if h.passage.id in near]
        if not rivals:
            return hits
        own = self.sentence_match(best.passage, query, vector)
        score, rival = max(((self.sentence_match(h.passage, query, vector), h) for h in rivals), key=lambda x: x[0])
        if score < own + SIBLING_MARGIN:
            return hits
        return [rival, *(h for h in hits if h is not rival)]

    def sentence_vectors(self, passage: Passage) -> tuple[list[str], np.ndarray]:
        """The sentences of ``passage`` (:func:`split_sentences`) and their embeddings, cached."""
        cached = self._sentence_vectors.get(passage.id)
        if cached is None:
            sentences = split_sentences(passage.text) or [passage.text]
            cached = (sentences, self.index.encoder.encode(sentences))
            self._sentence_vectors[passage.id] = cached
        return cached

    def highlight(self, passage: Passage, question: str, vector: np.ndarray | None = None) -> str:
        """The sentences of ``passage`` that answer ``question``, verbatim, in document
        order (:func:`highlight_sentences`). ``vector`` is the question's embedding when
        the caller has it; otherwise it is embedded here."""
        query = normalise_query(question)
        if not query:
            return ""
        sentences, vectors = self.sentence_vectors(passage)
        spelled = self.synonyms.spell_out(query)
        if vector is None:
            vector = self.index.encoder.encode([spelled])
        cosines = vectors @ np.asarray(vector, dtype=np.float32).reshape(-1)
        # Both spellings count as the question's words: "CIHS" and "admin" as typed, and
        # as the documents may write them out.
        return highlight_sentences(sentences, cosines, query if spelled == query else f"{query} {spelled}")


def passage_answer(retriever: Retriever, passage_id: str, question: str) -> Answer | None:
    """An answer citing a chosen passage (a clarification button, a verified intent
    answer), or None if no passage has that id."""
    passage = next((p for p in retriever.passages if p.id == passage_id), None)
    if passage is None:
        return None
    hit = Hit(passage, 1.0, 1.0, 0.0)
    # A button's payload ("/ask_question{...}") asks nothing of the passage: quote it whole.
    highlight = "" if question.startswith("/") else retriever.highlight(passage, question)
    return Answer(question=question, band="answer", confidence=1.0, text=best_sentences(passage, question),
                  hits=[hit], highlight=highlight or passage.text)


def states_what_is_asked(question: str, passage: Passage) -> bool:
    """False when ``question`` asks for a price, count, date... (bot/retrieval/answer_types.py) that
    ``passage`` does not state: a verified intent answer must not stand in for it ("how
    much does a guarantee of payment cost" is not answered by how to request one)."""
    return not missing_types(normalise_query(question), passage.text)


def best_sentences(passage: Passage, query: str, limit: int = 3) -> str:
    """The passage itself when short, else its sentences that share most terms with the
    question (kept in document order, with a list's introducing sentence)."""
    text = passage.text
    if len(text.split()) <= LONG_PASSAGE_WORDS:
        return text
    sentences = split_sentences(text)
    wanted = set(terms(query))
    scored = sorted(
        range(len(sentences)),
        key=lambda i: (-len(wanted & set(terms(sentences[i]))), i),
    )
    keep = set(scored[:limit])
    if sentences and sentences[0].endswith(":"):
        keep.add(0)
    return "\n".join(sentences[i] for i in sorted(keep))


#: A sentence that points at what follows it ("contact us at the following address")
#: is not complete without the next one, nor the next one without it.
#: A sentence that only announces the answer the passage after it gives ("Here's some
#: advice on how to contact us.", "Here's how it works.").
_ANNOUNCES = re.compile(r"\bhere(?:'|’)?s (?:how|some|what)\b|\bhere is (?:how|some|what)\b", re.IGNORECASE)
_POINTS_AHEAD = re.compile(r"\b(?:the following|as follows)\b", re.IGNORECASE)
#: A sentence that opens on what the one before it said ("In this letter, you'll also
#: find your activation code.", "This document mentions ...") is read with that one.
_POINTS_BACK = re.compile(r"^(?:in (?:this|that|these|those|such) \w+|this|that|these|those|such)\b", re.IGNORECASE)


def sentence_scores(sentences: list[str], cosines: np.ndarray, query: str) -> np.ndarray:
    """How well each sentence answers ``query``: its cosine with the question plus
    :data:`HIGHLIGHT_OVERLAP_WEIGHT` times the share of the question's terms it has,
    :data:`HIGHLIGHT_TYPE_BONUS` when it states the kind of fact asked for, and
    :data:`HIGHLIGHT_FORM_BONUS` when it says what to do for a how-do-I question or
    speaks of a case that does not hold for a question about one."""
    wanted = set(terms(query))
    overlap = np.array(
        [len(wanted & set(terms(s))) / len(wanted) if wanted else 0.0 for s in sentences], dtype=np.float64
    )
    asked = asked_types(query)
    states = np.array([states_any(asked, s) for s in sentences], dtype=np.float64)
    form = np.zeros(len(sentences), dtype=np.float64)
    if _ASKS_HOW.search(query):
        form += [bool(_SAYS_WHAT_TO_DO.search(s)) for s in sentences]
    if NEGATION.search(query):
        form += [bool(NEGATION.search(s)) for s in sentences]
    if _ASKS_NEEDED.search(query):
        form += [bool(_SAYS_NEEDED.search(s)) for s in sentences]
    return (
        np.asarray(cosines, dtype=np.float64)[: len(sentences)]
        + HIGHLIGHT_OVERLAP_WEIGHT * overlap
        + HIGHLIGHT_TYPE_BONUS * states
        + HIGHLIGHT_FORM_BONUS * form
    )


def _word_set(text: str) -> set[str]:
    """The terms of ``text`` without a possessive's apostrophe ("browser's" is "browser")."""
    return {t.rstrip("'’") for t in terms(text)}


def highlight_sentences(sentences: list[str], cosines: np.ndarray, query: str) -> str:
    """The sentences that answer ``query``: the best by cosine with the question plus
    :data:`HIGHLIGHT_OVERLAP_WEIGHT` times the share of the question's terms it has (and
    :data:`HIGHLIGHT_TYPE_BONUS` when it states the kind of fact asked for), with any
    other within :data:`HIGHLIGHT_TIE` of it, the best other one within
    :data:`HIGHLIGHT_RUNNER_UP`, and the sentence after the best (and after a runner-up
    that follows it), unless that one
    starts a new list item, and the one before it when that one points at it ("at the
    following address"); a sentence that introduces a list (ends with ":") brings the
    items after it. A list item is quoted without the sentence introducing its list:
    that lead-in ("please follow these steps:") is what the member would otherwise read
    before the answer. Kept in document order, joined by new lines."""
    if not sentences:
        return ""
    score = sentence_scores(sentences, cosines, query)
    # A list's introduction answers only for a passage that is nothing but that list
    # ("The data collected by CIHS include:" and its items); where the chunker repeats
    # it before each part of a long list, it is the lead-in, never the answer.
    pure_list = all(s.startswith("•") for s in sentences[1:])
    eligible = [i for i, s in enumerate(sentences) if not s.endswith(":") or pure_list] or list(range(len(sentences)))
    best = max(eligible, key=lambda i: score[i])
    if pure_list and len(sentences) > 2 and sentences[0].endswith(":") and _ASKS_WHICH.search(query):
        best = 0  # the list's introduction, and its items after it
    # A list's introduction joins only as the best sentence: beside a better one it is
    # the lead-in ("please follow these steps:") the member would read first.
    keep = {
        i for i in range(len(sentences))
        if i == best or (score[i] >= score[best] - HIGHLIGHT_TIE and not sentences[i].endswith(":"))
    }
    # The best of the others follows when close (HIGHLIGHT_RUNNER_UP): the scoring often
    # puts the answering sentence second, and it costs the member one sentence more. It
    # comes after the rest even when the passage has it first: the reply leads with the
    # best.
    others = [i for i in eligible if i not in keep and not sentences[i].endswith(":")]
    runner_up = max(others, key=lambda i: score[i]) if others else None
    if runner_up is not None and score[runner_up] < score[best] - HIGHLIGHT_RUNNER_UP:
        runner_up = None
    # A runner-up listing many things (the data collected: "your Media Access Control
    # (MAC) address, operating system and version, screen resolution, ...") joins only
    # when it has a word of the question the best lacks: "do you honour do not track?"
    # is answered by "We do not honor ... signals", not by that list after it.
    if (runner_up is not None and sentences[runner_up].count(",") >= ENUMERATION_COMMAS
            and not (_word_set(query) & _word_set(sentences[runner_up])) - _word_set(sentences[best])):
        runner_up = None
    # The sentence after the best one joins it: a passage often names the topic in one
    # sentence, in the question's words, and answers in the next ("Sometimes, we don't
    # receive an email address ... In that case, we send a welcome letter").
    following = best + 1
    if following < len(sentences) and not sentences[following].startswith("•"):
        keep.add(following)
    # A list item tied with the best brings the rest of its item ("• Cigna sends a
    # Guarantee of payment ... within 48 hours. This document mentions whether ...").
    for i in sorted(keep):
        if sentences[i].startswith("•") and i + 1 < len(sentences) and not sentences[i + 1].startswith("•"):
            keep.add(i + 1)
    previous = best - 1
    if previous >= 0 and not sentences[previous].endswith(":") and _POINTS_AHEAD.search(sentences[previous]):
        keep.add(previous)
    if _ASKS_HOW.search(query) and not any(_INSTRUCTS.search(sentences[i]) for i in keep):
        # "how do I find a doctor?" is answered by the instruction ("Log in to your
        # personal webpages and search ..."), though another sentence ("You can select
        # the provider of your choice") may match its words best.
        doing = [i for i in eligible if _INSTRUCTS.search(sentences[i])]
        if doing:
            keep.add(max(doing, key=lambda i: score[i]))
    for i in sorted(keep):
        if sentences[i].endswith(":"):  # a list's introduction: its items follow
            j = i + 1
            while j < len(sentences) and sentences[j].startswith("•") and j - i <= HIGHLIGHT_LIST_ITEMS:
                keep.add(j)
                j += 1
    if runner_up is not None and runner_up > best:
        keep.add(runner_up)
        # ...and so does the sentence after it, as after the best ("Please include as
        # many details as possible ... We need to know the diagnosis, ...").
        if runner_up + 1 < len(sentences) and not sentences[runner_up + 1].startswith("•"):
            keep.add(runner_up + 1)
    keep |= {i - 1 for i in keep if _leans_back(sentences, i)}
    lines = [sentences[i] for i in sorted(keep)]
    if runner_up is not None and runner_up < best and runner_up not in keep:
        if _leans_back(sentences, runner_up) and runner_up - 1 not in keep:
            lines.append(sentences[runner_up - 1])
        lines.append(sentences[runner_up])
    return "\n".join(lines)


def _leans_back(sentences: list[str], i: int) -> bool:
    """Whether sentence ``i`` opens on what the one before it said (:data:`_POINTS_BACK`),
    that one being in the same list item or paragraph, not a list's introduction."""
    return (i > 0 and bool(_POINTS_BACK.match(sentences[i])) and not sentences[i - 1].endswith(":"))
