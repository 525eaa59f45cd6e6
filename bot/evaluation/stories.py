"""Answer-quality story runner: replay conversations against the live assistant.

`rasa test` compares intent and action names only; it runs no custom action and never
sees what the bot says. These stories go through the REST channel of a real Rasa server
calling the real action server, and check after every user turn what a member and an
agent would see: the predicted intent, the actions run, text fragments, the cited
document and section, buttons, slots, the active form, and requests stored.

Story files (tests/stories/*.yml)::

    stories:
      - story: claim question is answered with its source
        steps:
          - user: "how do I submit a claim?"
            intent: claim_submit            # NLU intent of this message
            action: action_answer_question  # an action run in this turn (or a list)
            says: "claim"                   # fragment(s) of the bot's text (case-insensitive)
            not_says: "Traceback"
            cites: {document: cigna-health-benefits-member-faq, section: Claiming expenses}
            # or a list: every one cited in this turn (a two-part question), each
            # optionally by passage id: [{passage: "cigna-health-benefits-member-faq#general-information-5"}]
            buttons: ["Talk to a person"]   # button titles offered in this turn
            slots: {request_type: deletion} # slot values after the turn (null: empty)
            active_loop: data_rights_form   # the form active after the turn (null: none)
            stored: data_rights             # a request of this kind stored for the conversation
            band: clarify                   # the custom payload type: answer|clarify|abstain|...

`python -m bot.evaluation.stories` starts a private stack (or uses --rasa-url), plays
tests/stories and the labelled conversation sets of tests/story_sets, and writes
reports/stories.md with the pass rate of each file; the exit code is 1 if any story failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.rasa_plugins.server import api_url
from bot.settings import ROOT, Settings

STORY_DIR = ROOT / "tests" / "stories"
#: Labelled conversation sets: measured (their pass rate is in reports/stories.md), not
#: required to pass, so they stay out of the test suite's stories.
SET_DIR = ROOT / "tests" / "story_sets"


@dataclass
class StoryResult:
    """Outcome of one story."""

    name: str
    file: str
    passed: bool
    failures: list[str] = field(default_factory=list)
    turns: int = 0
    seconds: float = 0.0


def load_stories(paths: list[Path]) -> list[tuple[str, dict]]:
    """(file name, story) pairs from the given files or folders."""
    files: list[Path] = []
    for p in paths:
        files.extend(sorted(p.glob("*.yml")) if p.is_dir() else [p])
    out = []
    for f in files:
        for story in (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("stories", []):
            out.append((f.name, story))
    return out


def _http(method: str, url: str, body: dict | None = None, timeout: float = 30) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def _is_citation_of(citation: dict, want: dict) -> bool:
    """Whether ``citation`` is of the wanted document (and section, and passage id)."""
    cited = citation.get("id", "")
    return (
        ("document" not in want or cited.split("#")[0] == want["document"])
        and ("section" not in want or citation.get("section") == want["section"])
        and ("passage" not in want or cited == want["passage"])
    )


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class StoryRunner:
    """Plays stories against a running Rasa server."""

    def __init__(self, rasa_url: str, settings: Settings | None = None) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.settings = settings or Settings.from_env()
        self._store = None

    @property
    def store(self):  # noqa: ANN201 - bot.requests.RequestStore, imported lazily
        """The request store the action server writes to (same settings)."""
        if self._store is None:
            from bot.requests import RequestStore

            self._store = RequestStore.from_settings(self.settings)
        return self._store

    def tracker(self, sender: str) -> dict:
        """The conversation's tracker from the Rasa HTTP API."""
        return _http("GET", api_url(self.rasa_url, f"/conversations/{sender}/tracker", self.settings.rasa_token))

    def send(self, sender: str, text: str) -> list[dict]:
        """One user message over the REST channel; the bot's messages."""
        return _http("POST", f"{self.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": text}, 60)

    def run_story(self, file: str, story: dict) -> StoryResult:
        """Play one story in a fresh conversation and check every step."""
        sender = f"story-{uuid.uuid4().hex[:12]}"
        result = StoryResult(story.get("story", "?"), file, True)
        started = time.perf_counter()
        seen_events = 0
        for n, step in enumerate(story.get("steps", []), 1):
            try:
                messages = self.send(sender, step["user"])
                tracker = self.tracker(sender)
            except OSError as exc:
                result.failures.append(f"turn {n}: request failed: {exc}")
                break
            events = tracker.get("events", [])[seen_events:]
            seen_events = len(tracker.get("events", []))
            for problem in self.check(step, messages, events, tracker, sender):
                result.failures.append(f"turn {n} ({step['user'][:40]!r}): {problem}")
            result.turns = n
        result.passed = not result.failures
        result.seconds = time.perf_counter() - started
        return result

    def check(self, step: dict, messages: list[dict], events: list[dict], tracker: dict, sender: str) -> list[str]:
        """Every expectation of one step that does not hold."""
        problems: list[str] = []
        texts = " \n".join(m.get("text") or "" for m in messages)
        low = texts.lower()
        customs = [m["custom"] for m in messages if isinstance(m.get("custom"), dict)]
        buttons = [b.get("title", "") for m in messages for b in m.get("buttons") or []]
        user_events = [e for e in events if e.get("event") == "user"]
        actions = [e.get("name") for e in events if e.get("event") == "action"]

        if "intent" in step:
            got = user_events[-1]["parse_data"]["intent"]["name"] if user_events else None
            if got not in _as_list(step["intent"]):
                problems.append(f"intent {got!r}, expected {step['intent']!r}")
        for action in _as_list(step.get("action")):
            if action not in actions:
                problems.append(f"action {action!r} not run (ran {actions})")
        for action in _as_list(step.get("not_action")):
            if action in actions:
                problems.append(f"action {action!r} should not have run")
        for fragment in _as_list(step.get("says")):
            if str(fragment).lower() not in low:
                problems.append(f"bot did not say {fragment!r}; said {texts[:200]!r}")
        for fragment in _as_list(step.get("not_says")):
            if str(fragment).lower() in low:
                problems.append(f"bot said {fragment!r}")
        if "cites" in step:
            citations = [c for payload in customs for c in payload.get("citations", [])[:1]]
            for want in _as_list(step["cites"]):
                if not any(_is_citation_of(c, want) for c in citations):
                    cited = [(c.get("id"), c.get("section")) for c in citations]
                    problems.append(f"no citation of {want}; cited {cited}")
        if "band" in step:
            types = [p.get("type") for p in customs]
            if not set(_as_list(step["band"])) & set(types):
                problems.append(f"reply type {step['band']!r} not among {types}")
        for title in _as_list(step.get("buttons")):
            if not any(title.lower() in b.lower() for b in buttons):
                problems.append(f"no button {title!r} (buttons {buttons})")
        for slot, value in (step.get("slots") or {}).items():
            got = tracker.get("slots", {}).get(slot)
            if got != value:
                problems.append(f"slot {slot}={got!r}, expected {value!r}")
        if "active_loop" in step:
            got = (tracker.get("active_loop") or {}).get("name")
            if got != step["active_loop"]:
                problems.append(f"active form {got!r}, expected {step['active_loop']!r}")
        if "stored" in step:
            kinds = [r.kind for r in self.store.list(limit=500) if r.conversation_id == sender]
            if step["stored"] not in kinds:
                problems.append(f"no {step['stored']} request stored for this conversation (found {kinds})")
        return problems

    def run(self, stories: list[tuple[str, dict]]) -> list[StoryResult]:
        """Play all stories in order."""
        return [self.run_story(file, story) for file, story in stories]


def write_report(results: list[StoryResult], path: Path) -> None:
    """reports/stories.md: the pass rate of each story file, one line per story,
    failures spelled out."""
    passed = sum(r.passed for r in results)
    files: dict[str, list[StoryResult]] = {}
    for r in results:
        files.setdefault(r.file, []).append(r)
    lines = [
        "# Story run against the live assistant",
        "",
        f"{passed} of {len(results)} stories passed ({sum(r.turns for r in results)} turns).",
        "",
        "| file | stories | passed | pass rate |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, rs in files.items():
        ok = sum(r.passed for r in rs)
        lines.append(f"| {name} | {len(rs)} | {ok} | {ok / len(rs):.0%} |")
    lines += [
        "",
        "| story | file | turns | result | seconds |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for r in results:
        lines.append(f"| {r.name} | {r.file} | {r.turns} | {'pass' if r.passed else '**FAIL**'} | {r.seconds:.1f} |")
    failed = [r for r in results if not r.passed]
    if failed:
        lines += ["", "## Failures", ""]
        for r in failed:
            lines.append(f"### {r.name}")
            lines += [f"- {f}" for f in r.failures] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.evaluation.stories`: run the stories and write reports/stories.md."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("paths", nargs="*", type=Path, default=[STORY_DIR, SET_DIR])
    parser.add_argument("--rasa-url", help="use a running assistant instead of starting one")
    args = parser.parse_args(argv)
    stories = load_stories(args.paths)
    settings = Settings.from_env()
    if args.rasa_url:
        results = StoryRunner(args.rasa_url, settings).run(stories)
    else:
        import tempfile

        from bot.devtools.stack import Stack

        with tempfile.TemporaryDirectory(prefix="stories-") as tmp:
            db = f"sqlite:///{tmp}/requests.db"
            env = {"BOT_DATABASE_URL": db}
            # TEST_PORT_OFFSET moves the stack when two checkouts run at once (as the tests do).
            offset = int(os.environ.get("TEST_PORT_OFFSET", "0"))
            stack = Stack(rasa_port=5105 + offset, action_port=5155 + offset, web_port=None, var_dir=Path(tmp), env=env)
            with stack:
                results = StoryRunner(stack.rasa_url, Settings.from_env(database_url=db)).run(stories)
    write_report(results, settings.reports_dir / "stories.md")
    for r in results:
        print(f"{'PASS' if r.passed else 'FAIL'}  {r.name}")
        for f in r.failures:
            print(f"      {f}")
    passed = sum(r.passed for r in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
