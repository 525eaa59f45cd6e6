// Agent console: suggestions without a page load, and one-click copy of a suggestion.
// Agent API calls that change state carry the session's CSRF token (X-CSRF-Token).

const csrfMeta = document.querySelector('meta[name="csrf-token"]');
const csrf = csrfMeta ? csrfMeta.content : "";
const status = document.getElementById("copy-status");

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function announce(message) {
  if (!status) return;
  status.textContent = "";
  window.setTimeout(() => {
    status.textContent = message;
  }, 50);
}

async function copy(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = el("textarea", "visually-hidden");
  area.value = text;
  area.setAttribute("readonly", "");
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  try {
    await copy(button.dataset.copyText || "");
    button.textContent = "Copied";
    button.classList.add("copied");
    announce("Copied to the clipboard.");
  } catch {
    button.textContent = "Copy failed";
    announce("Copying failed: select the text and copy it by hand.");
  }
  window.setTimeout(() => {
    button.textContent = label;
    button.classList.remove("copied");
  }, 2500);
});

function copyText(s) {
  const url = /^https?:\/\//.test(s.url) ? s.url : s.local_url;
  return `${s.text}\n\nSource: ${s.title} › ${s.section} (${url})`;
}

function renderResults(container, data) {
  container.replaceChildren();
  const intent = el("p", "intent");
  if (data.intent && data.intent.name) {
    intent.append("Member's intent: ", el("strong", "", data.intent.name), " ");
    intent.append(el("span", "muted", `(${Math.round(data.intent.confidence * 100)}% confident)`));
  } else {
    intent.classList.add("muted");
    intent.textContent = "Intent unavailable: the Rasa server did not answer.";
  }
  container.append(intent);
  const suggestions = Array.isArray(data.suggestions) ? data.suggestions : [];
  if (!suggestions.length) {
    container.append(el("p", "muted", "No passages found."));
    return;
  }
  const list = el("ol", "suggestions");
  suggestions.forEach((s, i) => {
    const item = el("li", `suggestion band-${s.band}`);
    const head = el("div", "suggestion-head");
    head.append(el("span", "confidence", `${Math.round(s.confidence * 100)}% confidence · ${s.band}`), " ");
    const link = el("a", "", `${s.title} › ${s.section}`);
    if (typeof s.local_url === "string" && s.local_url.startsWith("/documents/")) link.href = s.local_url;
    link.target = "_blank";
    link.rel = "noopener";
    head.append(link);
    const quote = el("blockquote", "passage-text", s.text);
    quote.id = `suggestion-${i + 1}`;
    const actions = el("div", "suggestion-actions");
    const button = el("button", "button secondary copy", "Copy answer");
    button.type = "button";
    button.dataset.copyText = copyText(s);
    button.setAttribute("aria-describedby", quote.id);
    actions.append(button);
    item.append(head, quote, actions);
    list.append(item);
  });
  container.append(list);
}

const form = document.getElementById("suggest-form");
if (form) {
  const results = document.getElementById("suggest-results");
  const submit = form.querySelector('button[type="submit"]');
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const message = form.elements.message.value.trim();
    if (!message) {
      results.replaceChildren(el("p", "form-error", "Paste the member's message first."));
      return;
    }
    submit.disabled = true;
    results.setAttribute("aria-busy", "true");
    results.replaceChildren(el("p", "muted", "Looking for the best passages…"));
    try {
      const res = await fetch("/api/suggest", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ message }),
      });
      if (res.status === 401) {
        window.location.assign("/agent/login?next=/agent");
        return;
      }
      const data = await res.json().catch(() => null);
      if (!res.ok || !data) {
        results.replaceChildren(el("p", "form-error", (data && data.message) || "Suggestions are not available."));
      } else {
        renderResults(results, data);
      }
    } catch {
      results.replaceChildren(el("p", "form-error", "The server could not be reached."));
    } finally {
      submit.disabled = false;
      results.setAttribute("aria-busy", "false");
    }
  });
}
