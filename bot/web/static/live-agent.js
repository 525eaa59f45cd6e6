// The agent's live chats: presence, the queue with waiting times, the transcript so far,
// messages both ways with typing notices, suggested passages for every member message
// (inserted into the reply box, editable before sending), hand back and close. One
// WebSocket to /agent/live/ws; it reconnects after a drop, and the server sends the
// queue and this agent's conversations again, so nothing is lost.

import { liveSocket } from "./live-socket.js";

const $ = (id) => document.getElementById(id);
const page = document.querySelector(".live-page");
const queueList = $("live-queue");
const queueEmpty = $("live-queue-empty");
const mineList = $("live-mine");
const pane = $("live-conversation");
const transcriptList = $("live-transcript");
const statusLine = $("live-conversation-status");
const memberTyping = $("live-member-typing");
const waitingActions = $("live-waiting-actions");
const tools = $("live-chat-tools");
const suggestionList = $("live-suggestions");
const replyForm = $("live-reply-form");
const reply = $("live-reply");
const errorBox = $("live-error");
const connection = $("live-connection");

const conversations = new Map(); // id -> {status, mine, since, transcript}
let current = null;
let queue = [];
let lastTyping = 0;
let typingTimer = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function waited(since) {
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - since));
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function showError(message) {
  errorBox.textContent = message || "";
  errorBox.hidden = !message;
}

function send(data) {
  if (channel.send(data)) return true;
  showError("Not connected. Reconnecting…");
  return false;
}

const WHO = { member: "Member", bot: "Assistant", system: "Service" };

function turnItem(turn) {
  const li = el("li", `turn ${turn.role}`);
  const who = turn.role === "agent" ? `${turn.author || "Agent"} (you)` : WHO[turn.role] || turn.role;
  li.append(el("span", "who", who), " ");
  if (turn.timestamp) li.append(el("span", "muted", new Date(turn.timestamp * 1000).toLocaleTimeString("en-GB")));
  li.append(el("div", "turn-text", String(turn.text || "")));
  return li;
}

function renderQueue() {
  queueList.replaceChildren();
  for (const item of queue) {
    const li = el("li", "queue-item");
    li.dataset.id = String(item.id);
    const label = el("span", "queue-label", `Member #${item.position} · waiting `);
    const time = el("span", "waited", waited(item.since));
    time.dataset.since = String(item.since);
    label.append(time);
    const view = el("button", "button secondary small", "View");
    view.type = "button";
    view.addEventListener("click", () => send({ type: "open", id: item.id }));
    const accept = el("button", "button primary small accept", "Accept");
    accept.type = "button";
    accept.addEventListener("click", () => send({ type: "accept", id: item.id }));
    li.append(label, " ", view, " ", accept);
    queueList.append(li);
  }
  queueEmpty.hidden = queue.length > 0;
  page.dataset.queue = String(queue.length);
}

function renderMine() {
  mineList.replaceChildren();
  for (const [id, c] of conversations) {
    if (!c.mine || c.status !== "active") continue;
    const li = el("li");
    const button = el("button", "link-button", `Chat #${id}`);
    button.type = "button";
    if (id === current) button.setAttribute("aria-current", "true");
    button.addEventListener("click", () => select(id));
    li.append(button);
    mineList.append(li);
  }
}

function renderConversation() {
  const c = conversations.get(current);
  if (!c) {
    pane.hidden = true;
    return;
  }
  pane.hidden = false;
  pane.dataset.id = String(current);
  pane.dataset.status = c.status;
  transcriptList.replaceChildren(...c.transcript.map(turnItem));
  transcriptList.scrollTop = transcriptList.scrollHeight;
  const live = c.status === "active" && c.mine;
  statusLine.textContent =
    c.status === "waiting"
      ? `Waiting for ${waited(c.since)}. Accept to chat with this member.`
      : live
        ? "You are chatting with this member. The assistant is silent until you hand back."
        : "This chat has ended.";
  waitingActions.hidden = c.status !== "waiting";
  tools.hidden = !live;
  renderSuggestions(c.suggestions || []);
}

function renderSuggestions(items) {
  suggestionList.replaceChildren();
  for (const [i, s] of items.entries()) {
    const li = el("li", `suggestion band-${s.band}`);
    const head = el("div", "suggestion-head");
    head.append(el("span", "confidence", `${Math.round(s.score * 100)}% · ${s.band}`), " ");
    const link = el("a", "", `${s.title} › ${s.section}`);
    link.href = s.url;
    link.target = "_blank";
    link.rel = "noopener";
    head.append(link);
    const quote = el("blockquote", "passage-text", s.text);
    quote.id = `live-suggestion-${i + 1}`;
    const insert = el("button", "button secondary small insert", "Insert into reply");
    insert.type = "button";
    insert.addEventListener("click", () => {
      reply.value = reply.value ? `${reply.value}\n\n${s.insert}` : s.insert;
      reply.focus();
    });
    li.append(head, quote, insert);
    suggestionList.append(li);
  }
}

function select(id) {
  current = id;
  showError("");
  renderMine();
  renderConversation();
}

function onMessage(data) {
  switch (data.type) {
    case "hello":
      for (const input of document.querySelectorAll('input[name="presence"]')) input.checked = input.value === data.presence;
      page.dataset.presence = data.presence;
      break;
    case "presence":
      page.dataset.presence = data.presence;
      break;
    case "queue":
      queue = Array.isArray(data.items) ? data.items : [];
      renderQueue();
      break;
    case "conversation": {
      const old = conversations.get(data.id);
      conversations.set(data.id, { ...data, suggestions: old ? old.suggestions : [] });
      renderMine();
      if (current === null || current === data.id || data.mine) select(data.id);
      break;
    }
    case "message": {
      const c = conversations.get(data.id);
      if (!c) break;
      c.transcript.push(data.message);
      if (data.message.role === "member") memberTyping.hidden = true;
      if (data.id === current) {
        transcriptList.append(turnItem(data.message));
        transcriptList.scrollTop = transcriptList.scrollHeight;
      }
      break;
    }
    case "suggestions": {
      const c = conversations.get(data.id);
      if (!c) break;
      c.suggestions = Array.isArray(data.items) ? data.items : [];
      if (data.id === current) renderSuggestions(c.suggestions);
      break;
    }
    case "typing":
      if (data.id === current) {
        memberTyping.hidden = false;
        window.clearTimeout(typingTimer);
        typingTimer = window.setTimeout(() => (memberTyping.hidden = true), 4000);
      }
      break;
    case "status": {
      const c = conversations.get(data.id);
      if (c) {
        c.status = data.status;
        if (data.status !== "active") c.mine = false;
      }
      renderMine();
      if (data.id === current) renderConversation();
      break;
    }
    case "error":
      showError(data.message);
      break;
    default:
      break;
  }
}

const channel = liveSocket("/agent/live/ws", {
  onData: onMessage,
  onOpen: () => {
    connection.textContent = "Connected.";
    page.dataset.connected = "true";
    showError("");
  },
  onClose: () => {
    page.dataset.connected = "false";
    connection.textContent = "Disconnected. Reconnecting…";
  },
});

for (const input of document.querySelectorAll('input[name="presence"]')) {
  input.addEventListener("change", () => {
    if (input.checked) send({ type: "presence", status: input.value });
  });
}

$("live-accept").addEventListener("click", () => {
  if (current !== null) send({ type: "accept", id: current });
});

replyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = reply.value.trim();
  if (!text || current === null) return;
  if (send({ type: "message", id: current, text })) reply.value = "";
});

reply.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    replyForm.requestSubmit();
  }
});

reply.addEventListener("input", () => {
  if (current === null || Date.now() - lastTyping < 1500) return;
  lastTyping = Date.now();
  send({ type: "typing", id: current });
});

$("live-handback").addEventListener("click", () => {
  if (current !== null) send({ type: "end", id: current, reason: "handed_back" });
});
$("live-close").addEventListener("click", () => {
  if (current !== null) send({ type: "end", id: current, reason: "closed" });
});

window.setInterval(() => {
  for (const node of queueList.querySelectorAll(".waited")) node.textContent = waited(Number(node.dataset.since));
}, 1000);

channel.connect();
