"""The member chat and the agent console in a real browser against the real stack.

Debian's Chromium (/usr/bin/chromium, never a Playwright download) driven by Playwright
for Python; the stack is bot.devtools.stack.Stack with the trained Rasa model, the action server
and the web app on private ports, a throw-away request database and one test agent.
Screenshots go to reports/ (screenshot-member-chat.png, -mobile.png, screenshot-agent-console.png).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from bot.devtools.stack import PYTHON, Stack
from bot.requests import RequestStore
from bot.settings import ROOT
from bot.web.auth import make_entry
from tests.browser.chromium import CHROMIUM
from tests.helpers import port, started_stack

AGENT = "agent.smith"
AGENT_PASSWORD = "browser test password"
REPORTS = ROOT / "reports"
REPLY_TIMEOUT = 60_000  # ms; the first answer loads the model in the action server

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="session")
def stack(tmp_path_factory, retriever) -> Iterator[Stack]:
    """The real stack: Rasa (5305), action server (5355), web app (8305)."""
    tmp = tmp_path_factory.mktemp("browser-stack")
    env = {
        "BOT_DATABASE_URL": f"sqlite:///{tmp}/requests.db",
        "BOT_AGENT_ACCOUNTS": make_entry(AGENT, AGENT_PASSWORD),
        # Every test's browser is one client address (127.0.0.1) to this shared stack: the
        # per-address limit would count the whole module as one member. The limits
        # themselves are tested in tests/web.
        "BOT_RATE_LIMIT_PER_MINUTE": "600",
        "BOT_RATE_LIMIT_BURST": "200",
    }
    with started_stack(tmp, env, rasa_port=5305, action_port=5355, web_port=8305) as running:
        yield running


@pytest.fixture(scope="session")
def store(stack) -> Iterator[RequestStore]:
    """The stack's request database, to check what the browser did."""
    with RequestStore(stack.env["BOT_DATABASE_URL"]) as opened:
        yield opened


@pytest.fixture
def base(stack) -> str:
    return stack.web_url


@pytest.fixture
def context(browser, base):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    """A page that records console errors (CSP violations show up there)."""
    opened = context.new_page()
    opened.errors = []
    opened.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: opened.errors.append(str(e)))
    return opened


def bot_count(page) -> int:
    return page.locator("#chat-log .msg.bot").count()


def conversation_cookie(page) -> dict | None:
    """The member conversation cookie the server set in this page's browser context."""
    return next((c for c in page.context.cookies() if c["name"] == "member_conversation"), None)


def wait_ready(page) -> None:
    page.wait_for_selector('#chat[data-ready="true"]')


def say(page, text: str) -> str:
    """Type a message, press Enter, wait for the bot's reply; the text of the new bot messages."""
    before = bot_count(page)
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")
    page.wait_for_function(
        "([n]) => document.querySelectorAll('#chat-log .msg.bot').length > n"
        " && document.getElementById('chat-typing').hidden",
        arg=[before],
        timeout=REPLY_TIMEOUT,
    )
    return "\n".join(page.locator("#chat-log .msg.bot").all_inner_texts()[before:])


def login(page, base: str) -> None:
    page.goto(f"{base}/agent")
    assert "/agent/login" in page.url
    page.fill("#login-name", AGENT)
    page.fill("#login-password", AGENT_PASSWORD)
    page.click("form.stack-form button[type=submit]")
    page.wait_for_url(f"{base}/agent")


# --------------------------------------------------------------------------- member chat


def test_member_gets_a_cited_answer_whose_source_opens_the_passage(page, context, base, store):
    page.goto(f"{base}/")
    wait_ready(page)
    notice = page.locator("#chat-notice")
    assert "automated assistant" in notice.inner_text()
    assert notice.locator("a", has_text="privacy notice").get_attribute("href").startswith("/documents/")

    reply = say(page, "How do I submit a claim?")
    assert "Source:" in reply
    bubble = page.locator("#chat-log .msg.bot .bubble").filter(has=page.locator(".source a")).first
    source = bubble.locator(".source a").first
    href = source.get_attribute("href")
    assert re.search(r"/documents/[\w-]+#[\w-]+$", href), href
    answer_text = bubble.locator("p").first.inner_text()
    page.screenshot(path=str(REPORTS / "screenshot-member-chat.png"), full_page=True)

    bubble.get_by_role("button", name="Yes, this helped").click()
    page.wait_for_selector("text=Thanks for your feedback.")
    assert any(a.helpful is True for a in store.list_answers(limit=20))

    with context.expect_page() as opened:
        source.click()
    document = opened.value
    document.wait_for_load_state()
    anchor = href.split("#", 1)[1]
    assert document.url.endswith(f"#{anchor}")
    target = document.locator(":target")
    assert target.get_attribute("id") == anchor
    assert "passage" in target.get_attribute("class")
    assert answer_text.strip()[:40] in " ".join(target.inner_text().split())
    background = target.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(255, 241, 184)"  # the :target highlight
    assert not page.errors, page.errors


def test_the_conversation_survives_a_reload_and_start_over_begins_a_new_one(page, base):
    page.goto(f"{base}/")
    wait_ready(page)
    # Keyboard only: Tab to the message box, type, Enter.
    for _ in range(25):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "chat-input":
            break
    assert page.evaluate("document.activeElement.id") == "chat-input"
    page.keyboard.type("How can I contact you?")
    before = bot_count(page)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([n]) => document.querySelectorAll('#chat-log .msg.bot').length > n", arg=[before], timeout=REPLY_TIMEOUT
    )
    page.wait_for_selector("#chat-typing", state="hidden")
    cookie = conversation_cookie(page)
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/api"
    assert cookie["value"] not in page.evaluate("document.cookie")  # no script can read the id
    assert page.evaluate("localStorage.getItem('member-assistant.sender')") is None
    transcript = page.locator("#chat-log").inner_text()

    page.reload()
    wait_ready(page)
    page.wait_for_selector("#chat-log .msg.user")
    assert conversation_cookie(page)["value"] == cookie["value"]
    restored = page.locator("#chat-log")
    assert "How can I contact you?" in restored.inner_text()
    assert restored.locator(".msg.bot").count() >= 1
    assert transcript.split("\n")[0] in restored.inner_text()

    page.click("#chat-restart")
    page.wait_for_function("() => document.querySelectorAll('#chat-log .msg').length === 0")
    assert conversation_cookie(page)["value"] != cookie["value"]  # the server issued a new conversation
    page.reload()
    wait_ready(page)
    assert page.locator("#chat-log .msg").count() == 0
    assert not page.errors, page.errors


def test_phone_sized_screen(browser, base):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{base}/")
    wait_ready(page)
    say(page, "I forgot my password")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"horizontal scrolling on a phone: {width}"
    for selector in ("#chat-input", "#chat-send", "#chat-handoff"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["y"] + box["height"] <= 844, selector
    page.screenshot(path=str(REPORTS / "screenshot-member-chat-mobile.png"))
    context.close()


def test_markdown_is_rendered_safely(page, base):
    page.goto(f"{base}/")
    wait_ready(page)
    result = page.evaluate(
        """async () => {
            const { render } = await import('/static/markdown.js');
            const box = document.createElement('div');
            box.append(render('<img src=x onerror="window.pwned=1"> **bold** and *em*\\n'
                + '- one\\n- two\\n[ok](/documents/x#a) [bad](javascript:alert(1)) [web](https://example.org/)\\n'
                + '<script>window.pwned=2</script>\\nEmail: j***@e***.com, born **/**/1985, ref **DR-1**'));
            return {
                html: box.innerHTML,
                imgs: box.querySelectorAll('img, script').length,
                strong: box.querySelectorAll('strong').length,
                em: box.querySelectorAll('em').length,
                items: box.querySelectorAll('ul li').length,
                hrefs: [...box.querySelectorAll('a')].map(a => a.getAttribute('href')),
                text: box.textContent,
                pwned: window.pwned || 0,
            };
        }"""
    )
    assert result["imgs"] == 0 and result["pwned"] == 0
    assert result["strong"] == 2 and result["em"] == 1 and result["items"] == 2
    assert "Email: j***@e***.com, born **/**/1985, ref DR-1" in result["text"]  # masked values stay verbatim
    assert result["hrefs"] == [f"{base}/documents/x#a", "https://example.org/"]
    assert "<img src=x" in result["text"] and "&lt;script&gt;" in result["html"]


def test_a_member_completes_a_data_rights_request_and_an_agent_sees_it(page, browser, base, store):
    page.goto(f"{base}/")
    wait_ready(page)
    intro = say(page, '/start_data_rights_request{"request_type":"access"}')
    assert "verify" in intro.lower()
    say(page, "Jane Doe")
    say(page, "jane.doe@example.com")
    say(page, "AB123456")
    say(page, "12/03/1985")
    summary = say(page, "Please send me a copy of all my personal data")
    assert "Shall I submit it?" in summary, summary
    assert "jane.doe@example.com" not in summary  # the summary is masked
    done = say(page, "yes")
    match = re.search(r"\bDR-[0-9A-Z]{4}-[0-9A-Z]{4}\b", done)
    assert match, done
    reference = match.group(0)
    record = store.get(reference)
    assert record is not None and record.kind == "data_rights" and record.data["full_name"] == "Jane Doe"

    agent = browser.new_context(viewport={"width": 1280, "height": 900})
    console = agent.new_page()
    login(console, base)
    console.goto(f"{base}/agent/requests?kind=data_rights")
    row = console.locator("table.inbox tbody tr", has_text=reference)
    assert row.count() == 1
    assert re.search(r"(29|30) days left", row.inner_text()), row.inner_text()
    row.locator("a", has_text=reference).click()
    console.wait_for_url(f"{base}/agent/requests/{reference}")
    detail = console.locator("main").inner_text()
    assert "Jane Doe" in detail and "AB123456" in detail and "days left" in detail
    assert "Please send me a copy of all my personal data" in console.locator(".transcript").inner_text()
    console.select_option("#status-select", "in_progress")
    console.click("text=Change status")
    console.wait_for_selector("text=The status was changed.")
    assert store.get(reference).status == "in_progress"
    agent.close()


def test_talk_to_a_person_creates_a_handoff(page, base, store):
    page.goto(f"{base}/")
    wait_ready(page)
    before = bot_count(page)
    page.click("#chat-handoff")
    page.wait_for_function(
        "([n]) => document.querySelectorAll('#chat-log .msg.bot').length > n", arg=[before], timeout=REPLY_TIMEOUT
    )
    page.wait_for_selector("#chat-typing", state="hidden")
    assert "Talk to a person" in page.locator("#chat-log .msg.user").last.inner_text()
    # The hand-off asks how to reach the member, reads it back masked and asks to confirm.
    asked = page.locator("#chat-log .msg.bot").last.inner_text()
    assert "email" in asked.lower() and "phone" in asked.lower(), asked
    confirm = say(page, "maria.lopez@example.org")
    assert "m***@e***.org" in confirm and "maria.lopez" not in confirm, confirm
    text = say(page, "yes")
    match = re.search(r"\bHO-[0-9A-Z]{4}-[0-9A-Z]{4}\b", text)
    assert match, text
    record = store.get(match.group(0))
    assert record.kind == "handoff" and record.data["email"] == "maria.lopez@example.org"


# --------------------------------------------------------------------------- agent console


def test_agent_gets_suggestions_and_copies_one(page, base):
    login(page, base)
    page.fill("#suggest-message", "Hello, I forgot my password and now I cannot log in. What should I do?")
    page.click("text=Suggest answers")
    page.wait_for_selector("#suggest-results .suggestion")
    intent = page.locator("#suggest-results .intent").inner_text()
    assert intent.startswith("Member's intent:"), intent  # Rasa is up: the intent is shown
    suggestions = page.locator("#suggest-results .suggestion")
    assert 3 <= suggestions.count() <= 5
    first = suggestions.first
    assert first.locator("a").get_attribute("href").startswith("/documents/")
    copy = first.locator("button.copy")
    expected = copy.get_attribute("data-copy-text")
    copy.click()
    page.wait_for_selector("#suggest-results button.copy.copied")
    assert copy.inner_text() == "Copied"
    page.wait_for_function("() => document.getElementById('copy-status').textContent === 'Copied to the clipboard.'")
    assert page.evaluate("navigator.clipboard.readText()") == expected
    assert "Source:" in expected
    page.screenshot(path=str(REPORTS / "screenshot-agent-console.png"), full_page=True)
    assert not page.errors, page.errors


def test_injected_markup_stays_inert_in_the_agent_console(page, base, store):
    injection = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
    record = store.submit("handoff", {"reason": injection, "details": f"Please call me back {injection}"})
    store.add_note(record.reference, AGENT, injection)
    login(page, base)
    page.goto(f"{base}/agent/requests?kind=handoff")
    row = page.locator("table.inbox tbody tr", has_text=record.reference)
    assert "<script>window.__pwned=1</script>" in row.inner_text()  # the summary, as text
    assert page.evaluate("typeof window.__pwned") == "undefined"
    row.locator("a", has_text=record.reference).click()
    page.wait_for_url(f"{base}/agent/requests/{record.reference}")
    main = page.locator("main")
    text = main.inner_text()
    assert f"Please call me back {injection}" in text and text.count(injection) >= 3  # reason, details, note
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert main.locator("script").count() == 0 and page.locator("img[src='x']").count() == 0
    assert not page.errors, page.errors  # an injected <img src=x> would have failed to load


def test_anonymous_browser_cannot_reach_agent_pages_or_data(page, base):
    for path in ("/agent", "/agent/requests", "/agent/requests/DR-0000-0000"):
        page.goto(f"{base}{path}")
        assert page.url.startswith(f"{base}/agent/login?next=/agent"), page.url
        assert page.locator("h1").inner_text() == "Agent sign in"
    page.goto(f"{base}/")
    statuses = page.evaluate(
        """async () => Promise.all([
            fetch('/api/requests').then(r => r.status),
            fetch('/api/requests/DR-0000-0000', {method: 'PATCH', body: '{"status":"done"}'}).then(r => r.status),
            fetch('/api/suggest', {method: 'POST', body: '{"message":"hi"}'}).then(r => r.status),
        ])"""
    )
    assert statuses == [401, 401, 401]
    page.goto(f"{base}/agent/login")
    page.fill("#login-name", AGENT)
    page.fill("#login-password", "not the password")
    page.click("form.stack-form button[type=submit]")
    assert "wrong" in page.locator(".form-error").inner_text()
    assert "/agent/login" in page.url


@pytest.fixture
def busy_web(tmp_path, retriever) -> Iterator[str]:
    """The web app alone, in front of a "Rasa" that accepts connections and never answers
    (a real socket left unaccepted), with room for one call in flight and none waiting."""
    hung = socket.create_server(("127.0.0.1", 0), backlog=16)
    env = {
        "BOT_DATABASE_URL": f"sqlite:///{tmp_path}/requests.db",
        "BOT_RASA_MAX_IN_FLIGHT": "1",
        "BOT_RASA_MAX_WAITING": "0",
        "BOT_RASA_TIMEOUT": "30",
    }
    web_port = port(8306)
    running = Stack(
        rasa_port=hung.getsockname()[1], action_port=port(5399), web_port=web_port, var_dir=tmp_path, env=env
    )
    try:
        running._spawn("web", [str(PYTHON), "-m", "bot.web", "--port", str(web_port)])
        running.wait_healthy(60, only=["web"])
        yield running.web_url
    finally:
        running.stop()
        hung.close()


def test_a_message_the_busy_assistant_could_not_take_is_given_back_to_resend(browser, busy_web):
    first, second = browser.new_context(), browser.new_context()
    try:
        holder = first.new_page()
        holder.goto(f"{busy_web}/")
        wait_ready(holder)
        holder.fill("#chat-input", "how do I make a claim")
        holder.press("#chat-input", "Enter")
        holder.wait_for_function("() => !document.getElementById('chat-typing').hidden")
        holder.wait_for_timeout(1000)  # its call to Rasa now holds the only slot

        member = second.new_page()
        member.goto(f"{busy_web}/")
        wait_ready(member)
        member.fill("#chat-input", "where is my activation code")
        member.press("#chat-input", "Enter")
        member.wait_for_function(
            "() => document.querySelectorAll('#chat-log .msg.bot').length > 0"
            " && document.getElementById('chat-typing').hidden",
            timeout=10_000,
        )
        apology = member.locator("#chat-log .msg.bot").last.inner_text()
        assert "your message was not sent" in apology
        assert member.input_value("#chat-input") == "where is my activation code"
    finally:
        first.close()
        second.close()


# --------------------------------------------------------------------------- other languages


@pytest.mark.parametrize(
    ("opening", "name", "email", "details", "yes", "expect"),
    [
        ("Bonjour, je voudrais faire une demande concernant mes données personnelles", "Marie Dupont",
         "marie.dupont@example.com", "mon ancienne adresse et mon ancien numéro de téléphone", "oui",
         {"intro": "Je peux enregistrer ici votre demande", "name": "Quel est votre nom complet ?",
          "summary": "Dois-je l'envoyer ?", "done": "Votre référence est"}),
        ("Ik wil een verzoek over mijn gegevens indienen", "Jan de Vries", "jan.devries@example.com",
         "alle gegevens over mijn declaraties", "ja",
         {"intro": "Ik kan uw verzoek over uw persoonsgegevens hier opnemen", "name": "Wat is uw volledige naam?",
          "summary": "Zal ik het versturen?", "done": "Uw referentie is"}),
    ],
    ids=["french", "dutch"],
)
def test_a_member_finishes_a_data_rights_request_in_their_language(
    page, base, store, opening, name, email, details, yes, expect
):
    page.goto(f"{base}/")
    wait_ready(page)
    intro = say(page, opening)
    assert expect["intro"] in intro, intro
    # The request types are buttons in the member's language.
    buttons = page.locator("#chat-log .msg.bot").last.locator("button")
    titles = buttons.all_inner_texts()
    assert len(titles) == 6 and not any("my data" in t for t in titles), titles
    before = bot_count(page)
    buttons.nth(2).click()  # delete my data
    page.wait_for_function(
        "([n]) => document.querySelectorAll('#chat-log .msg.bot').length > n"
        " && document.getElementById('chat-typing').hidden",
        arg=[before],
        timeout=REPLY_TIMEOUT,
    )
    asked = page.locator("#chat-log .msg.bot").last.inner_text()
    assert expect["name"] in asked, asked
    say(page, name)
    say(page, email)
    say(page, "AB123456")
    say(page, "21/09/1988")
    summary = say(page, details)
    assert expect["summary"] in summary and email not in summary, summary
    done = say(page, yes)
    assert expect["done"] in done, done
    match = re.search(r"\bDR-[0-9A-Z]{4}-[0-9A-Z]{4}\b", done)
    assert match, done
    record = store.get(match.group(0))
    assert record is not None and record.kind == "data_rights" and record.data["full_name"] == name
    assert record.data["request_type"] == "deletion"


def test_the_language_switch_puts_the_widget_and_the_answers_in_the_chosen_language(page, base):
    page.goto(f"{base}/")
    wait_ready(page)
    assert page.inner_text("#chat-send") == "Send"
    page.select_option("#chat-language", "fr")
    page.wait_for_function("() => document.getElementById('chat-send').textContent === 'Envoyer'")
    assert page.get_attribute("#chat", "lang") == "fr"
    assert "assistant automatique" in page.inner_text("#chat-notice")
    assert page.locator("#chat-notice a").inner_text() == "déclaration de confidentialité"
    assert page.inner_text("label.chat-label") == "Écrivez votre question"
    # The choice wins over the language of the message: an English question, a French answer
    # quoting the English passage.
    reply = say(page, "How do I submit a claim?")
    assert "Voici ce que dit notre document (en anglais) :" in reply and "Source :" in reply, reply
    assert page.locator("#chat-log .msg.user .visually-hidden").last.text_content() == "Vous avez dit : "
    # The choice is kept in this browser, and the widget comes back in French.
    page.reload()
    wait_ready(page)
    page.wait_for_function("() => document.getElementById('chat-send').textContent === 'Envoyer'")
    assert page.input_value("#chat-language") == "fr"
    # Back to automatic: English texts (the browser's language), and messages read as written.
    page.select_option("#chat-language", "")
    page.wait_for_function("() => document.getElementById('chat-send').textContent === 'Send'")
    reply = say(page, "How can I reset my password?")
    assert "Voici ce que dit" not in reply, reply
    assert not page.errors, page.errors


def test_a_conversation_starts_in_the_browsers_language(browser, base):
    """A French browser on "Automatic": the greeting is French before the member has written
    anything in French, and an English question of their own switches to English."""
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{base}/")
        wait_ready(page)
        assert page.evaluate("navigator.languages[0]").startswith("fr")
        assert page.input_value("#chat-language") == ""  # nothing chosen in the switch
        greeting = say(page, "hello")
        assert "Bonjour ! Je suis l'assistant automatique" in greeting, greeting
        titles = page.locator("#chat-log .msg.bot").last.locator("button").all_inner_texts()
        assert "Demander une garantie de paiement" in titles, titles
        reply = say(page, "How can I reset the password of my online account?")
        assert "Voici ce que dit" not in reply and "Source:" in reply, reply
    finally:
        context.close()
