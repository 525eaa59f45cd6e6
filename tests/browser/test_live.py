"""Live hand-off in two real browsers, a member's and an agent's, against the real stack.

The stack (Rasa, action server, web app) is this module's own, so agents' presence here
never turns another test's hand-off into a live one. The agent's console drops out in
one test and the grace period is short (BOT_LIVE_AGENT_GRACE_SECONDS) so the requeue is
seen in seconds. The browser fixture, the marks (skipped without Chromium) and ``say``
are test_browser's. Screenshots: reports/screenshot-live-agent.png, screenshot-live-member.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.devtools.stack import Stack
from bot.web.auth import make_entry
from tests.browser.test_browser import REPLY_TIMEOUT, REPORTS, pytestmark, say  # noqa: F401
from tests.helpers import started_stack

AGENT = "maria.lopez"
OTHER_AGENT = "tom.baker"
PASSWORD = "live test password"
LIVE_TIMEOUT = 15_000  # ms: a message, a state change or the presence reaching the other browser
GRACE_SECONDS = 3


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory, retriever) -> Iterator[Stack]:
    """The real stack: Rasa (6005), action server (6055), web app (8605), two agents."""
    tmp = tmp_path_factory.mktemp("live-stack")
    accounts = ",".join(make_entry(name, PASSWORD) for name in (AGENT, OTHER_AGENT))
    env = {
        "BOT_DATABASE_URL": f"sqlite:///{tmp}/requests.db",
        "BOT_AGENT_ACCOUNTS": accounts,
        "BOT_LIVE_AGENT_GRACE_SECONDS": str(GRACE_SECONDS),
    }
    with started_stack(tmp, env, rasa_port=6005, action_port=6055, web_port=8605) as running:
        yield running


@pytest.fixture
def base(live_stack) -> str:
    return live_stack.web_url


def new_page(browser, errors: list[str]):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page


@pytest.fixture
def member(browser, base):
    errors: list[str] = []
    page = new_page(browser, errors)
    page.goto(f"{base}/")
    page.wait_for_selector('#chat[data-ready="true"]')
    yield page
    page.context.close()
    assert not errors, errors


def open_console(browser, base: str, name: str = AGENT, password: str = PASSWORD):
    """An agent signed in on the live page, connected and available."""
    errors: list[str] = []
    page = new_page(browser, errors)
    page.errors = errors
    page.goto(f"{base}/agent/live")
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("form.stack-form button[type=submit]")
    page.wait_for_url(f"{base}/agent/live")
    page.wait_for_selector('.live-page[data-connected="true"]')
    page.check("#presence-available")
    page.wait_for_selector('.live-page[data-presence="available"]')
    return page


@pytest.fixture
def agent(browser, base):
    page = open_console(browser, base)
    yield page
    if not page.is_closed():
        page.check("#presence-away")
        page.wait_for_selector('.live-page[data-presence="away"]')
        page.context.close()


def ask_for_a_person(member) -> None:
    member.click("#chat-handoff")
    member.wait_for_selector('#chat[data-live="waiting"]', timeout=REPLY_TIMEOUT)


def accept_first(agent) -> None:
    agent.wait_for_selector("#live-queue li.queue-item", timeout=LIVE_TIMEOUT)
    agent.click("#live-queue li.queue-item button.accept")
    agent.wait_for_selector('#live-conversation[data-status="active"]', timeout=LIVE_TIMEOUT)


def test_member_and_agent_chat_live_with_suggestions_then_hand_back(member, agent, base):
    say(member, "How do I submit a claim?")
    ask_for_a_person(member)
    assert "queue" in member.inner_text("#chat-live-status")
    assert "member services" in member.locator("#chat-log .msg.bot").last.inner_text()

    # The queue shows how long the member has waited; the transcript so far is one click away.
    agent.wait_for_selector("#live-queue li.queue-item", timeout=LIVE_TIMEOUT)
    assert re.search(r"waiting \d+ s", agent.inner_text("#live-queue li.queue-item"))
    agent.click("#live-queue li.queue-item button:has-text('View')")
    agent.wait_for_selector('#live-conversation[data-status="waiting"]')
    assert "How do I submit a claim?" in agent.inner_text("#live-transcript")
    accept_first(agent)

    member.wait_for_selector('#chat[data-live="active"]', timeout=LIVE_TIMEOUT)
    joined = member.locator("#chat-log .msg.system").last.inner_text()
    assert joined == "Maria from member services has joined the chat."
    assert "Maria" in member.inner_text("#chat-live-status")

    # The member writes; the agent sees it with suggestions sorted by score.
    member.fill("#chat-input", "How do I send you a claim for my doctor's bill?")
    member.press("#chat-input", "Enter")
    agent.wait_for_function(
        "() => document.getElementById('live-transcript').textContent.includes('claim for my doctor')",
        timeout=LIVE_TIMEOUT,
    )
    agent.wait_for_selector("#live-suggestions li.suggestion", timeout=LIVE_TIMEOUT)
    heads = agent.locator("#live-suggestions .confidence").all_inner_texts()
    scores = [int(h.split("%")[0]) for h in heads]
    assert scores == sorted(scores, reverse=True), heads
    assert all(re.search(r"· (answer|clarify|abstain)$", h) for h in heads), heads
    assert agent.locator("#live-suggestions a").first.get_attribute("href").startswith("/documents/")

    # The agent types (the member sees it), inserts a suggestion, edits it and sends.
    agent.click("#live-reply")
    agent.keyboard.type("Hello! ")
    member.wait_for_selector("#chat-live-typing", state="visible", timeout=LIVE_TIMEOUT)
    agent.click("#live-suggestions li.suggestion button.insert")
    inserted = agent.input_value("#live-reply")
    passage = agent.locator("#live-suggestions blockquote").first.inner_text()
    assert inserted.startswith("Hello! ") and passage.split("\n")[0][:40] in inserted
    agent.fill("#live-reply", inserted.replace("Hello! ", "Hello Maria here. <b>Good news</b>: "))
    agent.click("#live-send")
    member.wait_for_selector("#chat-log .msg.agent", timeout=LIVE_TIMEOUT)
    said = member.locator("#chat-log .msg.agent").last.inner_text()
    assert "Maria, member services" in said and "<b>Good news</b>" in said  # shown as text, not markup
    assert member.locator("#chat-log .msg.agent b").count() == 0
    member.screenshot(path=str(REPORTS / "screenshot-live-member.png"), full_page=True)
    agent.screenshot(path=str(REPORTS / "screenshot-live-agent.png"), full_page=True)

    # A reload brings back the whole exchange, in order, and the live chat.
    member.reload()
    member.wait_for_selector('#chat[data-ready="true"]')
    member.wait_for_selector('#chat[data-live="active"]', timeout=LIVE_TIMEOUT)
    log = member.inner_text("#chat-log")
    order = ["How do I submit a claim?", "has joined the chat", "claim for my doctor", "Good news"]
    positions = [log.find(text) for text in order]
    assert -1 not in positions and positions == sorted(positions), (positions, log)

    # While with a person, the assistant is silent: a message goes to the agent only, masked.
    member.fill("#chat-input", "Thank you, my member number is 12345678")
    member.press("#chat-input", "Enter")
    agent.wait_for_function(
        "() => document.getElementById('live-transcript').textContent.includes('Thank you, my member number is')",
        timeout=LIVE_TIMEOUT,
    )
    assert "12345678" not in agent.inner_text("#live-transcript")  # the agent reads it masked
    assert member.locator("#chat-log .msg.bot").last.inner_text() != "Thank you, my member number is 12345678"

    # Hand back: the member is told, and the assistant answers again.
    agent.click("#live-handback")
    member.wait_for_function("() => document.getElementById('chat').dataset.live === ''", timeout=LIVE_TIMEOUT)
    assert "handed you back to the assistant" in member.locator("#chat-log .msg.system").last.inner_text()
    reply = say(member, "How do I submit a claim?")
    assert "Source:" in reply


def test_with_no_agent_available_the_request_form_applies(member):
    member.click("#chat-handoff")
    member.wait_for_function(
        "() => document.querySelectorAll('#chat-log .msg.bot').length > 0"
        " && document.getElementById('chat-typing').hidden",
        timeout=REPLY_TIMEOUT,
    )
    asked = member.locator("#chat-log .msg.bot").last.inner_text()
    assert "email" in asked.lower() and "phone" in asked.lower(), asked
    assert member.get_attribute("#chat", "data-live") in (None, "")


def test_a_dropped_agent_sends_the_member_back_to_the_queue_where_another_takes_over(member, browser, base):
    first = open_console(browser, base)
    ask_for_a_person(member)
    accept_first(first)
    member.wait_for_selector('#chat[data-live="active"]', timeout=LIVE_TIMEOUT)
    first.context.close()  # the browser is gone, without a goodbye
    member.wait_for_selector('#chat[data-live="waiting"]', timeout=LIVE_TIMEOUT + GRACE_SECONDS * 1000)
    assert "back in the queue" in member.locator("#chat-log .msg.system").last.inner_text()

    second = open_console(browser, base, OTHER_AGENT)
    try:
        accept_first(second)
        member.wait_for_selector('#chat[data-live="active"]', timeout=LIVE_TIMEOUT)
        assert "Tom from member services has joined" in member.locator("#chat-log .msg.system").last.inner_text()
        member.click("#chat-live-leave")
        second.wait_for_selector('#live-conversation[data-status="ended"]', timeout=LIVE_TIMEOUT)
    finally:
        second.check("#presence-away")
        second.wait_for_selector('.live-page[data-presence="away"]')
        second.context.close()


def test_a_french_member_reads_the_live_chat_in_french(member, agent):
    """The hand-off, the queue, the agent's notices and name line in the member's language;
    what the agent writes is their own words."""
    member.select_option("#chat-language", "fr")
    member.wait_for_function("() => document.getElementById('chat-send').textContent === 'Envoyer'")
    ask_for_a_person(member)
    assert "Je vous mets en relation avec une personne" in member.locator("#chat-log .msg.bot").last.inner_text()
    status = member.inner_text("#chat-live-status")
    assert status.startswith("En attente d'une personne du service aux membres.") and "file d'attente" in status
    assert status.endswith("Vous pouvez continuer à écrire."), status
    accept_first(agent)
    member.wait_for_selector('#chat[data-live="active"]', timeout=LIVE_TIMEOUT)
    joined = member.locator("#chat-log .msg.system").last.inner_text()
    assert joined == "Maria du service aux membres a rejoint la conversation."
    assert member.inner_text("#chat-live-status") == "Vous discutez avec Maria du service aux membres."
    agent.fill("#live-reply", "Bonjour, je regarde votre dossier.")
    agent.click("#live-send")
    member.wait_for_selector("#chat-log .msg.agent", timeout=LIVE_TIMEOUT)
    said = member.locator("#chat-log .msg.agent").last.inner_text()
    assert "Maria, service aux membres" in said and "Bonjour, je regarde votre dossier." in said
    agent.click("#live-handback")
    member.wait_for_function("() => document.getElementById('chat').dataset.live === ''", timeout=LIVE_TIMEOUT)
    back = member.locator("#chat-log .msg.system").last.inner_text()
    assert back == "Maria vous a redirigé vers l'assistant. Vous pouvez de nouveau me poser toutes vos questions."
