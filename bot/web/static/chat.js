// The member chat widget: talks to Rasa through our /api/chat, renders bot messages as
// safe Markdown with their sources, buttons and feedback, and keeps the conversation
// across page reloads (transcript from /api/chat/history). The conversation is the
// server's: it issues the id in an HttpOnly cookie that this script never sees, and
// "Start over" asks it for a new one (POST /api/chat/session).
//
// The widget's own texts are English in the page and in this script, and are shown in
// the member's language from the server's gettext catalogues (GET /api/chat/texts):
// page elements marked data-i18n (their English text) or data-i18n-label (aria-label),
// and every text below through t(). The language is the one the member chose in the
// switch (kept in this browser and sent with every message, so that the assistant
// answers in it), or, left on "Automatic", the browser's and then the one the assistant
// answers in.

import { createLive } from "./live-chat.js";
import { render, safeUrl } from "./markdown.js";

// Where earlier versions of the widget kept a conversation id of their own making.
const LEGACY_SENDER_KEY = "member-assistant.sender";
// Every call sends the conversation cookie (same-origin only).
const CREDENTIALS = "same-origin";
// Where the member's choice in the language switch is kept ("" or absent: automatic).
const LANGUAGE_KEY = "member-assistant.language";
// The languages the assistant answers in (bot.language.detect.ANSWERED_LANGUAGES).
const LANGUAGES = ["en", "fr", "nl", "de", "es", "pt", "it"];

const $ = (id) => document.getElementById(id);
const chat = $("chat");
const log = $("chat-log");
const form = $("chat-form");
const input = $("chat-input");
// The server renders the textarea's maxlength from its own limit; 2000 is the fallback.
const MAX_CHARS = input.maxLength > 0 ? input.maxLength : 2000;
const send = $("chat-send");
const typing = $("chat-typing");
const errorBox = $("chat-error");
const starters = $("chat-starters");
const languageSwitch = $("chat-language");

let busy = false;
// The member's choice ("" for automatic), and the language the widget's texts are in.
let chosen = "";
let shown = "en";
let texts = {};

// `english` (one of WIDGET_TEXTS in bot/web/member.py) in the widget's language, with
// its %(name)s placeholders filled from `values`.
function t(english, values = {}) {
  const text = texts[english] || english;
  return text.replace(/%\((\w+)\)s/g, (all, name) => (name in values ? String(values[name]) : all));
}

// A text the server wrote in English (a live notice with the agent's name in it, an
// error) in the widget's language: one of WIDGET_TEXTS, its %(name)s parts matched
// as they stand (a name stays a name); unchanged when it is none of them.
function translated(text) {
  if (texts[text]) return texts[text];
  for (const english of Object.keys(texts)) {
    if (!english.includes("%(")) continue;
    const names = [];
    const pattern = english
      .split(/%\((\w+)\)s/)
      .map((part, i) => (i % 2 ? (names.push(part), "(.+?)") : part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
      .join("");
    const found = new RegExp(`^${pattern}$`).exec(text);
    if (found) return t(english, Object.fromEntries(names.map((name, i) => [name, found[i + 1]])));
  }
  return text;
}

function limitText() {
  return t("Please keep it under %(limit)s characters.", { limit: MAX_CHARS.toLocaleString(shown) });
}

function tooLongText(length) {
  return `${t("Your message is %(length)s characters long.", { length: length.toLocaleString(shown) })} ${limitText()}`;
}

function storedChoice() {
  try {
    const value = window.localStorage.getItem(LANGUAGE_KEY) || "";
    return LANGUAGES.includes(value) ? value : "";
  } catch {
    return "";
  }
}

function storeChoice(value) {
  try {
    if (value) window.localStorage.setItem(LANGUAGE_KEY, value);
    else window.localStorage.removeItem(LANGUAGE_KEY);
  } catch {
    // No storage (private mode): the choice lasts as long as the page.
  }
}

// The first of the browser's languages that we answer in, else English.
function browserLanguage() {
  const preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  const codes = [...preferred].map((tag) => String(tag || "").slice(0, 2).toLowerCase());
  return codes.find((code) => LANGUAGES.includes(code)) || "en";
}

function plain(text) {
  return text.replace(/\s+/g, " ").trim();
}

// The page's own texts in the widget's language (their English kept in data-i18n).
function translatePage() {
  for (const node of chat.querySelectorAll("[data-i18n]")) {
    if (!node.dataset.i18n) node.dataset.i18n = plain(node.textContent);
    node.textContent = t(node.dataset.i18n);
    if (node.dataset.message && !node.dataset.message.startsWith("/")) node.dataset.message = node.textContent;
  }
  for (const node of chat.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
}

// Show the widget in `language` (texts from the server; English needs none).
async function showLanguage(language) {
  let table = {};
  if (language !== "en") {
    try {
      const res = await fetch(`/api/chat/texts?language=${encodeURIComponent(language)}`);
      const data = res.ok ? await res.json() : null;
      table = data && data.texts && typeof data.texts === "object" ? data.texts : {};
    } catch {
      table = {};
    }
  }
  texts = table;
  shown = language;
  chat.lang = language;
  translatePage();
}

// On "Automatic", the widget follows the language the assistant answers in.
function followReply(messages) {
  if (chosen) return;
  const language = messages
    .map((m) => m && m.custom && typeof m.custom.language === "string" ? m.custom.language : "")
    .filter((code) => LANGUAGES.includes(code))
    .pop();
  if (language && language !== shown) showLanguage(language);
}

function forgetLegacySender() {
  try {
    window.localStorage.removeItem(LEGACY_SENDER_KEY);
  } catch {
    // No storage (private mode): nothing to forget.
  }
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function hidden(text) {
  return el("span", "visually-hidden", text);
}

function scrollToEnd() {
  log.scrollTop = log.scrollHeight;
}

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

function setBusy(value) {
  busy = value;
  typing.hidden = !value;
  send.disabled = value;
  chat.classList.toggle("is-busy", value);
  if (value) scrollToEnd();
}

function hideStarters() {
  starters.hidden = true;
  chat.classList.add("has-messages");
}

function retireQuickReplies() {
  for (const button of log.querySelectorAll(".quick-replies button")) button.disabled = true;
}

function addUser(text) {
  const li = el("li", "msg user");
  const bubble = el("div", "bubble");
  bubble.append(hidden(t("You said: ")), document.createTextNode(text));
  li.append(bubble);
  log.append(li);
  scrollToEnd();
}

function addBubble() {
  const li = el("li", "msg bot");
  const bubble = el("div", "bubble");
  bubble.append(hidden(t("Assistant said: ")));
  li.append(bubble);
  log.append(li);
  return bubble;
}

// A message from the person of member services who took the chat: plain text, their name.
function addAgent(text, author) {
  const li = el("li", "msg agent");
  const bubble = el("div", "bubble");
  const name = author ? t("%(agent)s, member services", { agent: author }) : t("Member services");
  bubble.append(el("span", "agent-name", name), hidden(t(" said: ")), el("p", "", text));
  li.append(bubble);
  log.append(li);
  scrollToEnd();
}

// A notice from the live service (someone joined, the chat went back to the assistant),
// written in English by the server.
function addSystem(text) {
  const li = el("li", "msg system", translated(text));
  log.append(li);
  scrollToEnd();
}

const live = createLive({ addAgent, addSystem, showError: (message) => showError(translated(message)), scrollToEnd, t });

// A set of controls that assistive technology announces under one name.
function controlGroup(className, label) {
  const group = el("div", className);
  group.setAttribute("role", "group");
  group.setAttribute("aria-label", label);
  return group;
}

function quickReplies(buttons) {
  const group = controlGroup("quick-replies", t("Suggested replies"));
  for (const b of buttons) {
    if (!b || typeof b.payload !== "string") continue;
    const title = String(b.title || b.payload);
    const button = el("button", "chip", title);
    button.type = "button";
    button.addEventListener("click", () => sendMessage(b.payload, title));
    group.append(button);
  }
  return group;
}

function hasLinkTo(bubble, localUrl) {
  const target = safeUrl(localUrl);
  if (!target) return true;
  return [...bubble.querySelectorAll("a")].some((a) => a.href === target.href);
}

function sourceLine(citation) {
  const url = safeUrl(citation.local_url || citation.url);
  if (!url) return null;
  const p = el("p", "source");
  p.append(`${t("Source:")} `);
  const a = el("a", "", `${citation.title} › ${citation.section}`);
  a.href = url.href;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  a.append(hidden(t(" (opens in a new tab)")));
  p.append(a);
  return p;
}

// Two small thumb buttons on the answer (named for assistive technology, no visible
// question): feedback is there to give, not asked for after every answer.
function feedbackControls(answerId) {
  const group = controlGroup("feedback", t("Was this answer helpful?"));
  const status = el("span", "feedback-status");
  status.setAttribute("role", "status");
  const make = (helpful, icon, label) => {
    const button = el("button", "thumb");
    button.type = "button";
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", label);
    button.title = label;
    button.dataset.helpful = String(helpful);
    const img = el("img");
    img.src = icon;
    img.alt = "";
    img.width = 20;
    img.height = 20;
    button.append(img);
    button.addEventListener("click", () => giveFeedback(group, answerId, helpful, status));
    return button;
  };
  group.append(
    make(true, "/static/thumb-up.svg", t("Yes, this helped")),
    make(false, "/static/thumb-down.svg", t("No, this did not help")),
    status,
  );
  return group;
}

async function giveFeedback(group, answerId, helpful, status) {
  for (const b of group.querySelectorAll("button.thumb")) {
    b.setAttribute("aria-pressed", String(b.dataset.helpful === String(helpful)));
  }
  try {
    const res = await fetch("/api/feedback", {
      method: "POST",
      credentials: CREDENTIALS,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ answer_id: answerId, helpful }),
    });
    const data = res.ok ? null : await res.json().catch(() => null);
    status.textContent = res.ok
      ? t("Thanks for your feedback.")
      : res.status === 429
        ? problemText(429, data)
        : t("Sorry, your feedback could not be saved.");
  } catch {
    status.textContent = t("Sorry, your feedback could not be saved.");
  }
  if (!helpful && !group.nextElementSibling) {
    const note = el("p", "feedback-followup", t("Sorry that didn't help. You can rephrase your question, or talk to a person."));
    group.after(note, quickReplies([{ title: t("Talk to a person"), payload: "/human_handoff" }]));
    scrollToEnd();
  }
}

// The whole cited passage, one click away under the answer (which quotes only the
// sentences that answer the question). A <details> element: no script of ours runs.
function wholePassage(citation) {
  const text = citation && typeof citation.text === "string" ? citation.text : "";
  if (!text) return null;
  const details = el("details", "whole-passage");
  details.append(el("summary", "", t("Show the whole passage")));
  const quote = el("blockquote", "passage-text");
  for (const line of text.split("\n")) quote.append(el("p", "", line));
  details.append(quote);
  return details;
}

function isFeedbackPrompt(message) {
  const buttons = message.buttons || [];
  return buttons.length > 0 && buttons.every((b) => String(b.payload || "").startsWith("/feedback"));
}

// One bot turn: the messages Rasa sent for one member message. Rasa sends our custom
// payload (citations, answer id) as a separate message after the text it belongs to.
function renderTurn(messages) {
  const list = Array.isArray(messages) ? messages : [];
  const thumbs = list.some((m) => m && m.custom && m.custom.type === "answer" && Number.isInteger(m.custom.answer_id));
  let bubble = null;
  for (const message of list) {
    if (!message || typeof message !== "object") continue;
    if (thumbs && isFeedbackPrompt(message)) continue; // shown as thumbs on the answer instead
    if (typeof message.text === "string" && message.text) {
      bubble = addBubble();
      bubble.append(render(message.text));
    }
    if (Array.isArray(message.buttons) && message.buttons.length) {
      if (!bubble) bubble = addBubble();
      bubble.append(quickReplies(message.buttons));
    }
    const custom = message.custom;
    if (custom && typeof custom === "object") {
      if (!bubble) bubble = addBubble();
      const citations = Array.isArray(custom.citations) ? custom.citations : [];
      if (["answer", "abstain", "unavailable"].includes(custom.type) && citations.length) {
        const c = citations[0];
        if (c && !hasLinkTo(bubble, c.local_url || c.url)) {
          const line = sourceLine(c);
          if (line) bubble.append(line);
        }
      }
      if (custom.type === "answer" && citations.length) {
        const highlight = typeof custom.highlight === "string" ? custom.highlight.trim() : "";
        const whole = citations[0] && typeof citations[0].text === "string" ? citations[0].text.trim() : "";
        const more = whole && whole !== highlight ? wholePassage(citations[0]) : null;
        if (more) bubble.append(more);
      }
      if (custom.type === "answer" && Number.isInteger(custom.answer_id)) {
        bubble.append(feedbackControls(custom.answer_id));
      }
      bubble.dataset.type = String(custom.type || "");
    }
  }
  scrollToEnd();
}

// What the member reads when the server refused a message: its own polite text when it
// sent one (every JSON error has `message`), else a text for the status (a proxy's 429
// or 413 page is not JSON).
function problemText(status, data) {
  if (data && typeof data.message === "string" && data.message) return translated(data.message);
  if (status === 429) return t("You're sending messages faster than I can answer. Please wait a moment and try again.");
  if (status === 413) return `${t("Your message is too long.")} ${limitText()}`;
  if (status === 400) return t("Sorry, I could not read that message. Please rephrase it and try again.");
  if (status === 403) return t("This page cannot send messages to the assistant. Please reload it and try again.");
  return t("Sorry, something went wrong. Please try again.");
}

async function sendMessage(text, shown) {
  if (busy) return;
  const message = String(text || "").trim();
  if (!message) {
    showError(t("Please type a question first."));
    input.focus();
    return;
  }
  if (message.length > MAX_CHARS) {
    showError(tooLongText(message.length));
    input.focus();
    return;
  }
  showError("");
  hideStarters();
  retireQuickReplies();
  addUser(shown || message);
  if (live.active()) {
    live.send(message); // with a person: the assistant is silent
    return;
  }
  setBusy(true);
  try {
    const res = await fetch("/api/chat", {
      method: "POST",
      credentials: CREDENTIALS,
      headers: { "Content-Type": "application/json" },
      // The member's choice, or else the browser's language: a new conversation starts
      // in it (the greeting, a form started from a button), and on "Automatic" the
      // member's own messages may switch it.
      body: JSON.stringify(chosen ? { message, language: chosen } : { message, start_language: browserLanguage() }),
    });
    const data = await res.json().catch(() => null);
    if (data && Array.isArray(data.messages)) {
      renderTurn(data.messages);
      followReply(data.messages);
      if (data.live) live.start(data.live);
    } else {
      showError(problemText(res.status, data));
    }
    // A typed message that was refused (too fast, unreadable) or never sent on (the
    // assistant was too busy to take it) is given back to edit or resend.
    const refused = res.status < 500 || (data && data.error === "assistant_busy");
    if (!res.ok && refused && !shown && !input.value) input.value = message;
  } catch {
    showError(t("We could not reach the assistant. Please check your connection and try again."));
  } finally {
    setBusy(false);
  }
}

// The conversation so far, if this browser has one (the server answers with no messages
// when it has not issued it a conversation yet).
async function restore() {
  let data = null;
  try {
    const res = await fetch("/api/chat/history", { credentials: CREDENTIALS });
    data = res.ok ? await res.json() : null;
  } catch {
    data = null;
  }
  const messages = data && Array.isArray(data.messages) ? data.messages : [];
  if (!messages.length) return;
  log.setAttribute("aria-busy", "true");
  let turn = [];
  const flush = () => {
    if (turn.length) renderTurn(turn);
    turn = [];
  };
  for (const m of messages) {
    if (m.role === "user") {
      flush();
      retireQuickReplies();
      addUser(String(m.text || ""));
    } else if (m.role === "bot") {
      turn.push(m);
    } else if (m.role === "agent") {
      flush();
      addAgent(String(m.text || ""), String(m.author || ""));
    } else if (m.role === "system") {
      flush();
      addSystem(String(m.text || ""));
    }
  }
  flush();
  followReply(messages.filter((m) => m.role === "bot"));
  log.setAttribute("aria-busy", "false");
  hideStarters();
  scrollToEnd();
}

// A new conversation: the server issues a new id (the old conversation stays with the
// old one); the log is cleared only once it has, so it never shows a conversation that
// is not the one the next message goes to.
async function startOver() {
  live.leave();
  let res = null;
  try {
    res = await fetch("/api/chat/session", { method: "POST", credentials: CREDENTIALS });
  } catch {
    res = null;
  }
  if (!res || !res.ok) {
    const data = res ? await res.json().catch(() => null) : null;
    showError(res && res.status === 429 ? problemText(429, data) : t("Sorry, a new conversation could not be started. Please try again."));
    return;
  }
  log.replaceChildren();
  showError("");
  starters.hidden = false;
  chat.classList.remove("has-messages");
  input.value = "";
  input.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (busy) return;
  if (text.trim().length > MAX_CHARS) {
    showError(tooLongText(text.trim().length));
    return;
  }
  if (text.trim()) input.value = "";
  sendMessage(text);
  input.focus();
});

input.addEventListener("input", () => live.typing());

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

$("chat-handoff").addEventListener("click", () => sendMessage("/human_handoff", t("Talk to a person")));
$("chat-restart").addEventListener("click", startOver);
for (const chip of starters.querySelectorAll("button[data-message]")) {
  chip.addEventListener("click", () => sendMessage(chip.dataset.message, chip.textContent || chip.dataset.message));
}
languageSwitch.addEventListener("change", () => {
  chosen = LANGUAGES.includes(languageSwitch.value) ? languageSwitch.value : "";
  storeChoice(chosen);
  showLanguage(chosen || browserLanguage());
});

chat.dataset.ready = "false";
forgetLegacySender();
chosen = storedChoice();
languageSwitch.value = chosen;
showLanguage(chosen || browserLanguage())
  .then(restore)
  .then(() => live.resume())
  .finally(() => {
    chat.dataset.ready = "true";
  });
