"""`bot ask` as people and scripts use it (a real subprocess on the real index)."""

from __future__ import annotations

import json
import subprocess
import sys


def _bot(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, text=True, timeout=300
    )


def test_jsonl_contract(retriever) -> None:
    out = _bot("ask", "--jsonl", stdin="how do I submit a claim?\n\nwhat is the capital of peru\n")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 2  # the empty line is skipped
    for row in rows:
        assert {"question", "answered", "confidence", "answer", "citations"} <= set(row)
        assert isinstance(row["answered"], bool) and 0.0 <= row["confidence"] <= 1.0
        for c in row["citations"]:
            assert {"title", "section", "url", "text", "score"} <= set(c)
    assert rows[0]["question"] == "how do I submit a claim?"
    assert rows[1]["answered"] is False and rows[1]["answer"] == ""


def test_human_output_shows_the_source(retriever) -> None:
    out = _bot("ask", "who", "sends", "the", "guarantee", "of", "payment", "and", "how", "fast?")
    assert out.returncode == 0, out.stderr
    assert "48 hours" in out.stdout and "Source: Cigna Health Benefits Member Help" in out.stdout


def test_stale_index_message(tmp_path) -> None:
    import os

    env = {**os.environ, "BOT_INDEX_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "bot.cli", "ask", "hi"], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "make index" in out.stderr and "Traceback" not in out.stderr
