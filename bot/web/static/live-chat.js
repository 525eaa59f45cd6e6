// The member's side of a live chat with a person from member services. The chat widget
// (chat.js) starts it when the assistant puts the member through (its reply carries the
// live state) or, after a reload, when /api/live/state says a hand-off is waiting or under
// way. Messages then go over a WebSocket to /api/live/ws instead of to the assistant; the
// socket reconnects after a drop, and the server's record keeps the whole exchange.

import { liveSocket } from "./live-socket.js";

const $ = (id) => document.getElementById(id);

export function createLive(ui) {
  const chat = $("chat");
  const bar = $("chat-live");
  const statusText = $("chat-live-status");
  const leave = $("chat-live-leave");
  const typing = $("chat-live-typing");
  let state = null;
  let lastTyping = 0;
  let typingTimer = null;
  const pending = [];

  const active = () => Boolean(state && (state.status === "waiting" || state.status === "active"));

  // Recent members' wait, from the server's accept times; nothing when it has none.
  // Texts go through the widget's t() (its language; WIDGET_TEXTS in bot/web/member.py).
  function waitText(seconds) {
    if (typeof seconds !== "number") return "";
    if (seconds < 60) return ui.t("Members recently waited less than a minute.");
    const minutes = Math.round(seconds / 60);
    if (minutes === 1) return ui.t("Members recently waited about a minute.");
    return ui.t("Members recently waited about %(minutes)s minutes.", { minutes });
  }

  function show(next) {
    state = next || null;
    chat.dataset.live = active() ? state.status : "";
    if (!active()) {
      bar.hidden = true;
      typing.hidden = true;
      channel.close();
      return;
    }
    bar.hidden = false;
    if (state.status === "waiting") {
      const place =
        state.position > 1
          ? ui.t("You are number %(position)s in the queue.", { position: state.position })
          : ui.t("You are next in the queue.");
      statusText.textContent = [
        ui.t("Waiting for a person from member services."), place, waitText(state.wait_seconds),
        ui.t("You can keep typing."),
      ].filter(Boolean).join(" ");
    } else {
      statusText.textContent = state.agent
        ? ui.t("You are chatting with %(agent)s from member services.", { agent: state.agent })
        : ui.t("You are chatting with a person from member services.");
    }
  }

  function onMessage(data) {
    if (data.type === "state") {
      show(data.live);
    } else if (data.type === "message") {
      typing.hidden = true;
      if (data.role === "agent") ui.addAgent(String(data.text || ""), String(data.author || ""));
      else if (data.role === "system") ui.addSystem(String(data.text || ""));
    } else if (data.type === "typing") {
      typing.hidden = false;
      ui.scrollToEnd();
      window.clearTimeout(typingTimer);
      typingTimer = window.setTimeout(() => (typing.hidden = true), 4000);
    } else if (data.type === "error") {
      ui.showError(String(data.message || ""));
    }
  }

  function post(data) {
    if (!channel.send(data) && data.type === "message") pending.push(data);
  }

  function start(next) {
    show(next);
    if (active() && !channel.started()) channel.connect();
  }

  const channel = liveSocket("/api/live/ws", {
    onData: onMessage,
    onOpen: () => {
      while (pending.length) channel.send(pending.shift());
    },
    shouldReconnect: active,
  });

  leave.addEventListener("click", () => post({ type: "leave" }));

  return {
    active,
    start,
    send(text) {
      post({ type: "message", text });
    },
    typing() {
      if (!state || state.status !== "active" || Date.now() - lastTyping < 1500) return;
      lastTyping = Date.now();
      post({ type: "typing" });
    },
    // Leave the chat with the person (before the widget starts a new conversation).
    leave() {
      if (active()) post({ type: "leave" });
    },
    async resume() {
      try {
        const res = await fetch("/api/live/state", { credentials: "same-origin" });
        const data = res.ok ? await res.json() : null;
        if (data && data.live) start(data.live);
      } catch {
        // No live state: the chat goes on with the assistant.
      }
    },
  };
}
