"""Personal data is masked in every log line: the filter itself, Rasa's logging config, a live stack at DEBUG.

The live test is the one that matters: a real Rasa server started with ``--debug`` (it
then logs every user message, entity and slot value) and a real action server, also at
DEBUG, go through a data-rights request and a plain message carrying an email, a phone
number, a member id, a date of birth and a card number; afterwards no log file of the
stack may contain any of them in clear, and the masked forms must be there (proof that
the lines were logged, not dropped).
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import tempfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devtools.stack import RASA_LOGGING, Stack
from bot.privacy.logmask import PiiMaskingFilter, install_record_factory, mask_record
from bot.settings import ROOT, Settings
from tests.helpers import started_stack

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

EMAIL = "mask.probe@example.org"
PHONE = "+44 20 7946 0958"
MEMBER_ID = "QX734519"
BIRTH_DATE = "14/07/1983"
CARD = "4539 1488 0343 6467"

#: Every spelling of the values that could reach a log: as typed, as normalised by the
#: validators (slot values), and the bare digit runs.
CLEAR_VALUES = [
    EMAIL,
    "mask.probe",
    PHONE,
    "20 7946 0958",
    "2079460958",
    "+442079460958",
    MEMBER_ID,
    MEMBER_ID.lower(),
    BIRTH_DATE,
    "1983-07-14",
    CARD,
    "4539148803436467",
    "0343 6467",
]
MASKED_FORMS = ["m***@e***.org", "***519", "**/**/1983", "**** 6467", "+44 *** ** 58"]


# --------------------------------------------------------------------------- the filter


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A real logger with a masking handler writing to a buffer, removed again after the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(PiiMaskingFilter())
    logger = logging.getLogger("test_log_masking.captured")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_filter_masks_percent_args_of_every_kind(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.debug("email %s phone %r member %s born %s card %s n=%d", EMAIL, PHONE, MEMBER_ID, BIRTH_DATE, CARD, 7)
    logger.info("slots %(slots)s", {"slots": {"email": EMAIL, "member_id": MEMBER_ID}})
    logger.info({"text": f"my card is {CARD}"})
    output = stream.getvalue()
    assert not [value for value in CLEAR_VALUES if value in output], output
    assert "email m***@e***.org phone '+44 *** ** 58' member ***519 born **/**/1983 card **** 6467 n=7" in output
    assert "{'email': 'm***@e***.org', 'member_id': '***519'}" in output
    assert "{'text': 'my card is **** 6467'}" in output


def test_filter_masks_tracebacks_and_chained_exceptions(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured

    def validate(value: str) -> None:
        raise ValueError(f"not a valid member id: {value}")

    try:
        try:
            validate(MEMBER_ID)
        except ValueError as exc:
            raise RuntimeError(f"form failed for {EMAIL}, card {CARD}") from exc
    except RuntimeError:
        logger.exception("submission of %s failed", BIRTH_DATE)
    logger.warning("where am I, %s?", PHONE, stack_info=True)
    output = stream.getvalue()
    assert not [value for value in CLEAR_VALUES if value in output], output
    assert "Traceback (most recent call last)" in output
    assert "ValueError: not a valid member id: ***519" in output
    assert "RuntimeError: form failed for m***@e***.org, card **** 6467" in output
    assert "submission of **/**/1983 failed" in output
    assert "Stack (most recent call last)" in output and "where am I, +44 *** ** 58?" in output


def test_filter_masks_extra_fields_and_drops_exc_info() -> None:
    record = logging.LogRecord("sanic.access", logging.INFO, __file__, 1, "", (), None)
    record.request = f"GET /conversations/{EMAIL}/tracker"  # Sanic's access log puts the request line here
    try:
        raise KeyError(MEMBER_ID)
    except KeyError:
        record.exc_info = sys.exc_info()
    PiiMaskingFilter().filter(record)
    assert record.request == "GET /conversations/m***@e***.org/tracker"
    assert record.exc_info is None and "KeyError: '***519'" in (record.exc_text or "")
    formatted = logging.Formatter("%(request)s %(message)s").format(record)
    assert MEMBER_ID not in formatted and EMAIL not in formatted


def test_broken_format_string_is_masked_not_lost(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("two %s %s", EMAIL)
    assert EMAIL not in stream.getvalue() and "m***@e***.org" in stream.getvalue()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Received user message 'how do I submit a claim?' with intent 'claim_submit'",) * 2,
        ("Predicted next action 'action_listen' with confidence 1.00.",) * 2,
        ("Starting Rasa server on http://127.0.0.1:5005",) * 2,
        ("Tracker with sender_id 'exp-1' stored to database",) * 2,
        ("Loaded 143 passages in 2.5 s from /work/main/index",) * 2,
        (
            '{"parse_data_intent": {"name": "affirm", "confidence": 0.9999999403953552}}',
            '{"parse_data_intent": {"name": "affirm", "confidence": 0.999}}',
        ),
    ],
)
def test_normal_messages_stay_readable(message: str, expected: str) -> None:
    record = mask_record(logging.LogRecord("rasa.core.processor", logging.DEBUG, __file__, 1, message, (), None))
    assert record.getMessage() == expected


def test_masking_twice_changes_nothing() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "mail %s", (EMAIL,), None)
    once = mask_record(record).getMessage()
    PiiMaskingFilter().filter(record)
    assert record.getMessage() == once == "mail m***@e***.org"


# --------------------------------------------------------------------------- Rasa's logging config, in Rasa's Python

#: Applies the config as Rasa does, then does what Rasa's server libraries do afterwards
#: (coloredlogs swaps the console handler, Sanic applies its own dictConfig, --log-file
#: adds a handler, libraries log without handlers), and logs personal data each way.
_RASA_LIKE_SCRIPT = textwrap.dedent(
    """
    import logging, logging.config, sys
    import yaml
    logging.config.dictConfig(yaml.safe_load(open(sys.argv[1])))
    logging.getLogger("rasa").setLevel(logging.DEBUG)          # what --debug does
    import coloredlogs
    coloredlogs.install(level="DEBUG", fmt="%(levelname)s %(name)s - %(message)s")
    from sanic import Sanic                                       # applies LOGGING_CONFIG_DEFAULTS
    Sanic("probe")
    late = logging.StreamHandler(sys.stderr)                      # a handler added later (--log-file)
    logging.getLogger().addHandler(late)
    print("modules", sorted(m for m in sys.modules if m.startswith("bot")), file=sys.stderr)
    email, member, card = sys.argv[2:5]
    logging.getLogger("rasa.core.processor").debug("Received user message '%s' %s", email, member)
    logging.getLogger("sanic.error").error("Exception occurred for %s", card)
    logging.getLogger("sanic.access").info("", extra={"request": "GET /x/" + email, "status": 200,
                                                      "byte": 1, "host": "h"})
    logging.getLogger("apscheduler").propagate = False
    logging.getLogger("apscheduler").warning("no handler, card %s", card)   # logging.lastResort
    try:
        raise ValueError("bad " + email)
    except ValueError:
        logging.getLogger("rasa.server").exception("failed")
    """
)


def test_rasa_logging_config_masks_every_path_in_rasas_environment(tmp_path: Path) -> None:
    if not RASA_PYTHON.exists():
        pytest.fail(f"no Rasa environment at {RASA_PYTHON}: run `make setup`")
    script = tmp_path / "probe.py"
    script.write_text(_RASA_LIKE_SCRIPT)
    out = subprocess.run(
        [str(RASA_PYTHON), str(script), str(RASA_LOGGING), EMAIL, MEMBER_ID, CARD],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    output = out.stdout + out.stderr
    assert out.returncode == 0, output
    # Only the stdlib-only masking code was imported from our package.
    assert "modules ['bot', 'bot.dialogue', 'bot.dialogue.validation', 'bot.privacy', 'bot.privacy.logmask']" in output
    assert not [value for value in (EMAIL, MEMBER_ID, CARD) if value in output], output
    for masked in (
        "Received user message 'm***@e***.org' ***519",
        "Exception occurred for **** 6467",
        "GET /x/m***@e***.org",
        "no handler, card **** 6467",
        "ValueError: bad m***@e***.org",
    ):
        assert masked in output, output


def test_record_factory_reaches_handlers_created_afterwards() -> None:
    """In a child process (the factory is process-wide): a handler added later still gets masked records."""
    code = textwrap.dedent(
        f"""
        import logging, sys
        from bot.privacy.logmask import install_record_factory
        install_record_factory(); install_record_factory()
        logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
        logging.getLogger("x").info("reach me at %s", {EMAIL!r})
        print(logging.getLogRecordFactory().__qualname__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "reach me at m***@e***.org"
    assert install_record_factory.__name__ in out.stdout.splitlines()[1]  # wrapped once, not twice


# --------------------------------------------------------------------------- live stack at DEBUG


class DebugStack(Stack):
    """The real stack with Rasa at DEBUG (``--debug``), the worst case for logging personal data.

    The action server keeps its default level: its Sanic worker, where the actions run,
    never configures logging, so what it logs reaches the log file through
    :data:`logging.lastResort` (warnings and errors); :func:`_probe_action_server`
    makes it log an error quoting personal data.
    """

    def _spawn(self, name: str, cmd: list[str]) -> None:
        if name == "rasa" and "--debug" not in cmd:
            cmd = [*cmd, "--debug"]
        super()._spawn(name, cmd)


def _post(url: str, body: dict, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _send(rasa_url: str, sender: str, message: str) -> list[dict]:
    status, replies = _post(f"{rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": message})
    assert status == 200, replies
    return replies


def _probe_action_server(action_url: str) -> None:
    """Make the action server's worker log an error that quotes an email and a member id."""
    tracker = {"sender_id": "mask-probe", "slots": {}, "latest_message": {}, "events": [], "active_loop": {}}
    body = {"next_action": f"action_for {EMAIL} {MEMBER_ID}", "sender_id": "mask-probe", "tracker": tracker}
    auth = {"Authorization": f"Bearer {Settings.from_env().action_server_token}"}
    status, _ = _post(f"{action_url}/webhook", {**body, "domain": {}, "version": "3.6.21"}, auth)
    assert status == 404


@pytest.fixture(scope="module")
def debug_logs(retriever) -> Iterator[dict[str, str]]:  # retriever: the test index
    """Log files of a DEBUG stack after a conversation full of personal data, by file name."""
    with tempfile.TemporaryDirectory(prefix="logmask-") as tmp:
        var = Path(tmp)
        env = {"BOT_DATABASE_URL": f"sqlite:///{var / 'requests.db'}"}
        replies: list[str] = []
        with started_stack(var, env, rasa_port=5705, action_port=5755, stack_class=DebugStack) as stack:
            for message in [
                '/start_data_rights_request{"request_type":"access"}',
                "Jane Doe",
                EMAIL,
                MEMBER_ID.lower(),
                BIRTH_DATE,
                f"my card {CARD} was charged twice, call me on {PHONE}",
                "yes",
                f"Hi, I am {MEMBER_ID}, born {BIRTH_DATE}, email {EMAIL}, phone {PHONE}, card {CARD}",
            ]:
                replies += [m.get("text") or "" for m in _send(stack.rasa_url, "mask-probe", message)]
            _probe_action_server(stack.action_url)
        logs = {path.name: path.read_text(errors="replace") for path in sorted(var.glob("*.log"))}
        logs["(replies)"] = "\n".join(replies)
        yield logs


@pytest.mark.stack
def test_the_conversation_went_through(debug_logs: dict[str, str]) -> None:
    """Guards the other assertions: the form was filled and submitted, so every value was logged."""
    assert "DR-" in debug_logs["(replies)"], debug_logs["(replies)"]
    assert {"rasa.log", "actions.log"} <= set(debug_logs)


@pytest.mark.stack
@pytest.mark.parametrize("log", ["rasa.log", "actions.log"])
def test_no_personal_value_in_clear_in_any_log(debug_logs: dict[str, str], log: str) -> None:
    text = debug_logs[log]
    leaked = [value for value in CLEAR_VALUES if value.lower() in text.lower()]
    lines = [line[:300] for line in text.splitlines() if any(v.lower() in line.lower() for v in leaked)]
    assert not leaked, f"{log} leaks {leaked}:\n" + "\n".join(lines[:10])


@pytest.mark.stack
def test_other_log_files_leak_nothing_either(debug_logs: dict[str, str]) -> None:
    for name, text in debug_logs.items():
        if name.endswith(".log"):
            assert not [value for value in CLEAR_VALUES if value.lower() in text.lower()], name


@pytest.mark.stack
def test_rasa_logged_at_debug_with_the_values_masked(debug_logs: dict[str, str]) -> None:
    rasa = debug_logs["rasa.log"]
    assert " DEBUG " in rasa and "parse_data_text" in rasa  # Rasa really logged every message
    # A card number never gets as far as the log: the channel removed it from the message.
    for masked in (m for m in MASKED_FORMS if m != "**** 6467"):
        assert masked in rasa, masked
    assert "**** 6467" not in rasa and "[card number removed]" in rasa
    # Ordinary words around the values stay readable.
    assert "was charged twice, call me on +44 *** ** 58" in rasa
    assert "Hi, I am ***519, born **/**/1983" in rasa


@pytest.mark.stack
def test_action_server_worker_errors_are_masked(debug_logs: dict[str, str]) -> None:
    assert "No registered action found for name 'action_for m***@e***.org ***519'" in debug_logs["actions.log"]
