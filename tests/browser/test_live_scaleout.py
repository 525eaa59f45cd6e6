"""Live hand-off in two real browsers on the scaled-out set-up: the member's widget on one
web app, the agent's console on the other, so every message, the accept and the hand
back cross between the two processes (PostgreSQL LISTEN/NOTIFY) and Rasa is paused and
resumed through nginx.

The stack is tests/test_scaleout.py's ``scaled`` fixture (its own databases, ports moved
by TEST_PORT_OFFSET); each browser addresses its web app directly, not through nginx's
round robin, so the two sides are certain to be on different processes. One
conversation only (asked for a person twice: the second time with a wait estimate): the
embedded set-up's test_live.py covers suggestions, reloads and faults.
"""

from __future__ import annotations

from bot.devtools.scaleout import ScaledStack
from tests import test_scaleout
from tests.browser.test_browser import REPLY_TIMEOUT, pytestmark, say  # noqa: F401
from tests.browser.test_live import LIVE_TIMEOUT, accept_first, ask_for_a_person, new_page, open_console

scaled = test_scaleout.scaled  # the scaled-out stack, this module's own instance
AGENT, PASSWORD = next(iter(test_scaleout.LIVE_AGENTS.items()))


def test_member_on_one_web_app_and_agent_on_the_other_chat_live_then_hand_back(browser, scaled: ScaledStack):
    member_url, agent_url = (f"http://127.0.0.1:{port}" for port in scaled.web_ports)
    errors: list[str] = []
    member = new_page(browser, errors)
    agent = open_console(browser, agent_url, AGENT, PASSWORD)
    try:
        member.goto(f"{member_url}/")
        member.wait_for_selector('#chat[data-ready="true"]')
        say(member, "How do I submit a claim?")
        ask_for_a_person(member)
        status = member.inner_text("#chat-live-status")
        assert "next in the queue" in status and "recently waited" not in status, status  # no accepts yet

        # The queue on the other app shows the member; the accept reaches the member's app.
        accept_first(agent)
        member.wait_for_selector('#chat[data-live="active"]', timeout=LIVE_TIMEOUT)
        joined = member.locator("#chat-log .msg.system").last.inner_text()
        assert joined == "Scale from member services has joined the chat.", joined

        # Member to agent, across the processes.
        member.fill("#chat-input", "Is my physiotherapy covered?")
        member.press("#chat-input", "Enter")
        agent.wait_for_function(
            "() => document.getElementById('live-transcript').textContent.includes('Is my physiotherapy covered?')",
            timeout=LIVE_TIMEOUT,
        )

        # Agent to member, with the typing indicator first.
        agent.click("#live-reply")
        agent.keyboard.type("Let me check that for you.")
        member.wait_for_selector("#chat-live-typing", state="visible", timeout=LIVE_TIMEOUT)
        agent.click("#live-send")
        member.wait_for_selector("#chat-log .msg.agent", timeout=LIVE_TIMEOUT)
        said = member.locator("#chat-log .msg.agent").last.inner_text()
        assert "Let me check that for you." in said and "Scale, member services" in said, said

        # Hand back from the agent's app: the member's app tells them and Rasa answers again.
        agent.click("#live-handback")
        member.wait_for_function("() => document.getElementById('chat').dataset.live === ''", timeout=LIVE_TIMEOUT)
        assert "handed you back to the assistant" in member.locator("#chat-log .msg.system").last.inner_text()
        assert "Source:" in say(member, "How do I submit a claim?")

        # Asking again, the member is told the wait of the one accept there was (seconds).
        ask_for_a_person(member)
        status = member.inner_text("#chat-live-status")
        assert "Members recently waited less than a minute." in status, status
        member.click("#chat-live-leave")
        member.wait_for_function("() => document.getElementById('chat').dataset.live === ''", timeout=LIVE_TIMEOUT)
    finally:
        agent.check("#presence-away")
        agent.wait_for_selector('.live-page[data-presence="away"]')
        agent.context.close()
        member.context.close()
    assert not errors, errors
    assert not agent.errors, agent.errors
