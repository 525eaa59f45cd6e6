"""The `bot` command: build the index, ask questions, evaluate, benchmark, apply retention and reviews.

`bot ask --jsonl` is a contract that scripts and the evaluation rely on: one JSON object
per input line with ``question``, ``answered``, ``confidence``, ``answer``,
``highlight`` (the cited passage's sentences that answer the question, verbatim; empty
when not answered) and ``citations`` (best first, each with ``title``, ``section``,
``url``, ``text``, ``score``). Keep it stable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap

from bot.settings import Settings


def _quiet_libraries() -> None:
    """Keep the model loaders' progress bars and warnings out of answers on stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for name in ("sentence_transformers", "transformers", "huggingface_hub"):
        logging.getLogger(name).setLevel(logging.ERROR)


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build the index (skipped when nothing changed)."""
    from bot.knowledge.index import build_index

    manifest = build_index(settings, force=args.force, progress=not args.quiet)
    if settings.multilingual:
        from bot.language.crosslingual import VECTORS_FILE, build_index_vectors

        if build_index_vectors(settings, force=args.force):
            print(f"built the multilingual vectors -> {settings.index_dir / VECTORS_FILE}")
    if manifest.get("skipped"):
        print(f"index is up to date ({manifest.get('passage_count')} passages): nothing to do")
    else:
        print(
            f"built index: {manifest['passage_count']} passages, {manifest['question_count']} alternate "
            f"questions, dimension {manifest['dimension']}, {manifest['build_seconds']} s -> {settings.index_dir}"
        )
    return 0


def _print_answer(answer) -> None:  # noqa: ANN001 - bot.retrieval.retriever.Answer, imported lazily
    width = 88
    if answer.band == "answer":
        lead = answer.highlight or answer.text
        print(textwrap.fill(lead, width) if "\n" not in lead else lead)
        best = answer.best.passage
        print(f"\nSource: {best.doc_title} › {best.section_title}\n        {best.url}")
        if answer.alternatives:
            print("\nSee also:")
            for hit in answer.alternatives:
                print(f"  - {hit.passage.doc_title} › {hit.passage.section_title}")
    elif answer.band == "clarify":
        print("I'm not sure I understood. Did you mean one of these?")
        from bot.dialogue.replies import option_labels

        for n, label in enumerate(option_labels(answer.hits[:3]), 1):
            print(f"  {n}. {label}")
    else:
        print("Sorry, I don't know the answer to that from our documents.")
        print("You can contact us by email, by post or by phone, or ask to talk to a person.")
    print(f"\n[{answer.band}, confidence {answer.confidence:.2f}]")


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question, or a stream of questions as JSON lines."""
    from bot.language import detect_language
    from bot.retrieval import Retriever

    retriever = Retriever.from_settings(settings)
    if args.jsonl:
        for line in sys.stdin:
            question = line.rstrip("\n")
            if not question.strip():
                continue
            answer = retriever.answer(question, language=detect_language(question))
            print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        return 0
    if args.question:
        question = " ".join(args.question)
        _print_answer(retriever.answer(question, language=detect_language(question)))
        return 0
    # Interactive prompt.
    print("Ask a question about claims, login, contact or our privacy notices (empty line to quit).")
    while True:
        try:
            question = input("\n> ").strip()
        except EOFError:
            break
        if not question:
            break
        _print_answer(retriever.answer(question))
    return 0


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Retrieval evaluation report (reports/eval.md and a chart)."""
    from bot.evaluation.scoring import run_evaluation

    return run_evaluation(settings, set_paths=args.set, policyqa_path=args.policyqa)


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    """Refit the answer confidence (data/documents/confidence.yml) on labelled questions."""
    from pathlib import Path

    from bot.retrieval import Retriever
    from bot.retrieval.confidence import CONFIDENCE_FILE
    from bot.training.calibration import (
        calibration_sets,
        english_calibration_sets,
        fit,
        labelled_questions,
        trained_sets,
        write,
    )

    trained = trained_sets(Path(args.questions) if args.questions else None)
    trained_on = [s.name for s in trained]
    questions, out_of_scope = labelled_questions([s.pair for s in trained])
    calibration = fit(Retriever.from_settings(settings, fitting=True), questions, out_of_scope, calibration_sets())
    target = settings.documents_dir / CONFIDENCE_FILE
    write(calibration, target, source=" + ".join(trained_on))
    grid = ", ".join(f"C={c:g}: {a:.4f}" for c, a in calibration.cv_auroc.items())
    print(f"fitted on {calibration.in_scope} in-scope and {calibration.out_of_scope} out-of-scope questions "
          f"({', '.join(trained_on)}); cross-validated AUROC {grid}; "
          f"chose C={calibration.c:g} -> {target}")
    print(f"suggested thresholds: clarify >= {calibration.clarify_threshold}, answer >= "
          f"{calibration.answer_threshold} (room on the worse target {calibration.answer_margin:+.3f} over "
          f"{calibration.pooled[0]} in-scope and {calibration.pooled[1]} out-of-scope questions of "
          f"{', '.join(s.name for s in english_calibration_sets())}; now "
          f"{settings.clarify_threshold} and {settings.answer_threshold}: set them in bot/settings.py)")
    return 0


def cmd_crosslingual(args: argparse.Namespace, settings: Settings) -> int:
    """Refit the cross-lingual confidence (data/documents/crosslingual.yml)."""
    from bot.knowledge.index import load_index
    from bot.language.crosslingual import CONFIDENCE_FILE, CrossLingualRetriever
    from bot.training.crosslingual import fit, write

    cross = CrossLingualRetriever.from_settings(load_index(settings), settings, fitting=True)
    confidence, source = fit(cross)
    target = settings.documents_dir / CONFIDENCE_FILE
    write(confidence, source, target)
    print(f"fitted on {source['in_scope']} in-scope and {source['out_of_scope']} out-of-scope questions: "
          f"weights {confidence.weights}, answer >= {confidence.answer_threshold:.3f}, "
          f"clarify >= {confidence.clarify_threshold:.3f} -> {target}")
    return 0


def cmd_adapt(args: argparse.Namespace, settings: Settings) -> int:
    """Refit the query adapter (data/documents/query_adapter.npz) on PolicyQA and our
    alternate questions; then run `bot calibrate`, since the scores it weighs move."""
    import dataclasses
    import time
    from pathlib import Path

    from bot.evaluation.labelled import POLICYQA_DEV
    from bot.evaluation.policyqa import load_policyqa, training_set
    from bot.retrieval import Retriever
    from bot.retrieval.adapter import ADAPTER_FILE, QueryAdapter
    from bot.training.adapter import fit_adapter

    path = Path(args.policyqa) if args.policyqa else POLICYQA_DEV
    if not path.is_file():
        print(f"bot adapt needs PolicyQA's dev.json: {path} not found (pass --policyqa PATH)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    retriever = Retriever.from_settings(dataclasses.replace(settings, query_adapter=False))
    policies = load_policyqa(retriever, path)
    matrix = fit_adapter(training_set(policies, retriever.index))
    target = settings.documents_dir / ADAPTER_FILE
    QueryAdapter(matrix=matrix, model=settings.embedding_model).save(target)
    print(f"fitted on {sum(len(p.questions) for p in policies)} PolicyQA questions and "
          f"{retriever.index.dense.ntotal - len(retriever.passages)} alternate questions in "
          f"{time.perf_counter() - started:.0f} s -> {target}; now run `bot calibrate`")
    return 0


def cmd_reader(args: argparse.Namespace, settings: Settings) -> int:
    """Refit the answer reader (data/documents/answer_reader.npz) on the pooled labelled
    questions, our alternate questions and unanswerable.yml; then run `bot calibrate`."""
    import time

    from bot.retrieval import Retriever
    from bot.retrieval.reader import READER_FILE
    from bot.training.calibration import labelled_sets, reader_examples, reader_inputs_digest, unanswerable_questions
    from bot.training.reader import FOLDS, fit_reader

    started = time.perf_counter()
    retriever = Retriever.from_settings(settings, fitting=True)
    pooled, unanswerable = labelled_sets(), unanswerable_questions(settings.documents_dir)
    examples = reader_examples(retriever, pooled, unanswerable, FOLDS)
    inputs = reader_inputs_digest(retriever, pooled, unanswerable)
    reader = fit_reader(examples, retriever.index.passage_tokens, settings.embedding_model, inputs=inputs)
    target = settings.documents_dir / READER_FILE
    reader.save(target)
    print(f"fitted on {len(examples)} question-passage pairs ({len(reader.out_of_fold)} scored out of fold) in "
          f"{time.perf_counter() - started:.0f} s -> {target}; now run `bot calibrate`")
    return 0


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    """Retrieval latency (reports/bench-retrieval.md), the review pages with 10,000 logged
    answers (reports/bench-review.md); with --e2e also the end-to-end and load benchmarks
    on live stacks (reports/bench.md and bench.png); with --live only the live hand-off
    load run (reports/bench-live.md); with --retrieval only the retrieval latency."""
    from bot.devtools.bench import run_live_bench, run_retrieval_bench, run_stack_bench
    from bot.devtools.review_bench import run_review_bench

    if args.live:
        return run_live_bench(settings, scaled=not args.no_scaled, quick=args.quick)

    code = run_retrieval_bench(settings, queries=args.queries)
    if args.retrieval:
        return code
    code = run_review_bench(settings) or code
    if args.e2e:
        code = run_stack_bench(settings, scaled=not args.no_scaled, quick=args.quick) or code
    return code


def cmd_retention(args: argparse.Namespace, settings: Settings) -> int:
    """Retention purge or a member's erasure; prints counts only, never personal values."""
    from bot.privacy.retention import RetentionError, erase, purge

    try:
        if args.retention_command == "purge":
            report = purge(settings, args.days, dry_run=args.dry_run)
        else:
            report = erase(settings, member_id=args.member_id, email=args.email, dry_run=args.dry_run)
    except RetentionError as exc:
        print(f"bot retention: {exc}; nothing more was deleted, run the command again", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


def cmd_review(args: argparse.Namespace, settings: Settings) -> int:
    """Write the reviewed items into the data files (nothing is rebuilt: `bot learn` does that)."""
    from pathlib import Path

    from bot.requests import RequestStore
    from bot.review.export import STORY_FILE, ExportError, export
    from bot.review.store import ReviewStore

    documents = Path(args.documents) if args.documents else settings.documents_dir
    stories = Path(args.stories) if args.stories else STORY_FILE
    with RequestStore.from_settings(settings) as store:
        store.create_schema()
        review = ReviewStore(store)
        actions = review.actions(pending=not args.all)
        try:
            report = export(actions, documents, stories)
        except ExportError as exc:
            print(f"bot review export: {exc}", file=sys.stderr)
            return 1
        review.audit("bot review export", "export", str(documents), f"{len(actions)} actions")
    print(f"exported {len(actions)} reviewed item(s) into {documents} and {stories}:")
    print("\n".join(report.lines()))
    print("then `bot index`, `bot reader` and `bot calibrate` (or `bot learn`, which checks the held-out figures)")
    return 0


def cmd_learn(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the reviewed items, rebuild, compare the held-out figures, ship unless worse."""
    from pathlib import Path

    from bot.training.learn import learn

    return learn(
        settings, force=args.force, reader=not args.no_reader, adapter=args.adapter,
        held_out=[Path(p) for p in args.set] if args.set else None,
        **({"story_file": Path(args.stories)} if args.stories else {}),
    )


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if days < 0:
        raise argparse.ArgumentTypeError("days must not be negative")
    return days


def _add_retention_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retention", help="delete old conversations and requests, or erase one member's data")
    actions = p.add_subparsers(dest="retention_command", required=True)
    purge = actions.add_parser(
        "purge",
        help="delete conversations idle and requests closed for more than N days",
        description="Delete conversations whose last message is older than N days (unless an open request "
        "refers to them), requests closed more than N days ago, and answers logged before then.",
    )
    purge.add_argument(
        "--days", type=_days, default=None, help="retention period (default: BOT_RETENTION_DAYS, 365)"
    )
    purge.add_argument("--dry-run", action="store_true", help="only count what would be deleted")
    erase = actions.add_parser(
        "erase",
        help="erase everything held about one member (a completed deletion request)",
        description="Erase a member's requests (with notes and status history), the conversations they came "
        "from or in which the member typed these identifiers, and the answers logged in them.",
    )
    erase.add_argument("--member-id", default=None, help="the member's id (any case, spaces or hyphens)")
    erase.add_argument("--email", default=None, help="the member's email address")
    erase.add_argument("--dry-run", action="store_true", help="only count what would be erased")
    p.set_defaults(func=cmd_retention)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (separate so tests can inspect it)."""
    from bot.evaluation import labelled
    from bot.evaluation.labelled import shown

    parser = argparse.ArgumentParser(prog="bot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="build the passage index into index/")
    p.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("ask", help="answer a question with its sources")
    p.add_argument("question", nargs="*", help="the question (omit for an interactive prompt)")
    p.add_argument("--jsonl", action="store_true", help="read questions from stdin, write JSON lines")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="retrieval evaluation report")
    p.add_argument(
        "--set", action="append", default=None, metavar="PATH",
        help=f"a labelled question set, repeatable (default every set of {shown(labelled.EVAL_DIR)}/<role>/)",
    )
    p.add_argument("--policyqa", default=None, help=f"PolicyQA dev.json (default {shown(labelled.POLICYQA_DEV)})")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("calibrate", help="refit the answer confidence on labelled questions")
    p.add_argument(
        "--questions", default=None, metavar="PATH",
        help=f"labelled questions in place of the tuning set (default {shown(labelled.DEFAULT_QUESTIONS)})",
    )
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("adapt", help="refit the query adapter on PolicyQA and our alternate questions")
    p.add_argument("--policyqa", default=None, help=f"PolicyQA dev.json (default {shown(labelled.POLICYQA_DEV)})")
    p.set_defaults(func=cmd_adapt)

    p = sub.add_parser("crosslingual", help="refit the confidence of answers to questions in other languages")
    p.set_defaults(func=cmd_crosslingual)

    p = sub.add_parser("reader", help="refit the answer reader on labelled and unanswerable questions")
    p.set_defaults(func=cmd_reader)

    p = sub.add_parser("bench", help="retrieval latency benchmark")
    p.add_argument("--queries", type=int, default=300, help="timed queries after warm-up")
    p.add_argument("--e2e", action="store_true", help="also the end-to-end and load benchmarks on live stacks")
    p.add_argument("--no-scaled", action="store_true", help="skip the scaled-out set-up in the load benchmark")
    p.add_argument("--quick", action="store_true", help="short load runs (a smoke test of the benchmark)")
    p.add_argument("--live", action="store_true", help="only the live hand-off load run (reports/bench-live.md)")
    p.add_argument("--retrieval", action="store_true", help="only the retrieval latency (reports/bench-retrieval.md)")
    p.set_defaults(func=cmd_bench)

    _add_retention_parser(sub)

    p = sub.add_parser("review", help="the reviewed answers (see bot/web/review.py)")
    actions = p.add_subparsers(dest="review_command", required=True)
    export = actions.add_parser(
        "export", help="write reviewed items into the data files the index and calibration read"
    )
    export.add_argument("--documents", default=None, metavar="DIR", help="documents folder (default data/documents)")
    export.add_argument("--stories", default=None, metavar="FILE",
                        help="story set for saved conversations (default tests/story_sets/reviewed.yml)")
    export.add_argument("--all", action="store_true", help="also the items `bot learn` applied already")
    export.set_defaults(func=cmd_review)

    p = sub.add_parser("learn", help="apply reviewed items, rebuild, and ship unless a held-out figure gets worse")
    p.add_argument("--force", action="store_true", help="ship even when a held-out figure gets worse")
    p.add_argument("--no-reader", action="store_true", help="do not refit the answer reader (about 6 minutes)")
    p.add_argument("--adapter", action="store_true", help="also refit the query adapter (needs PolicyQA)")
    p.add_argument("--stories", default=None, metavar="FILE",
                   help="story set for saved conversations (default tests/story_sets/reviewed.yml)")
    p.add_argument("--set", action="append", default=None, metavar="PATH",
                   help="held-out set to compare on, repeatable (default every set of tests/eval/heldout/)")
    p.set_defaults(func=cmd_learn)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `bot` console script."""
    _quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "retention_command", None) == "erase" and not (
        (args.member_id or "").strip() or (args.email or "").strip()
    ):
        parser.error("retention erase: give --member-id and/or --email")
    settings = Settings.from_env()
    from bot.knowledge.documents import DocumentError
    from bot.knowledge.embedder import EmbeddingModelError
    from bot.knowledge.index import IndexMismatchError

    try:
        return args.func(args, settings)
    except (IndexMismatchError, DocumentError, EmbeddingModelError) as exc:
        print(f"bot: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
