// Safe Markdown for bot messages: paragraphs, line breaks, bullet and numbered lists,
// **bold**, *emphasis*, `code` and [links](url). It never parses HTML: text becomes text
// nodes and every element is built with the DOM API, so markup in a message is shown as
// typed. Only http(s) and relative links are made into links. Emphasis needs a letter
// or digit inside, so masked values such as "j***@e***.com" and "**/**/1985" stay as they are.

const LIST_ITEM = /^\s*(?:[-*•]|(\d{1,3})[.)])\s+(.*)$/;
const INLINE = new RegExp(
  [
    String.raw`(?<![\w*])(\*\*|__)(?=[^\s*_])([^\n]*?[^\s*_])\1(?![\w*])`, // 1,2: strong
    String.raw`\[([^\]\n]+)\]\(([^()\s]+)\)`, // 3,4: link
    String.raw`(?<![\w*])\*(?=\S)([^*\n]*?\S)\*(?![\w*])`, // 5: emphasis with *
    String.raw`(?<!\w)_(?=\S)([^_\n]*?\S)_(?!\w)`, // 6: emphasis with _
    "`([^`\\n]+)`", // 7: code
    String.raw`(https?:\/\/[^\s<>()]*[^\s<>().,;:!?'"])`, // 8: bare URL
  ].join("|"),
  "g",
);

const HAS_WORD = /[\p{L}\p{N}]/u;

/** The URL to link to, or null when it is not http(s) or relative to this site. */
export function safeUrl(href, base = window.location.origin) {
  if (typeof href !== "string" || href.length > 2048) return null;
  let url;
  try {
    url = new URL(href, base);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  return url;
}

function link(label, href) {
  const url = safeUrl(href);
  if (!url) return null;
  const a = document.createElement("a");
  a.href = url.href;
  if (url.origin !== window.location.origin || url.pathname.startsWith("/documents/")) {
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    a.append(...label);
    const hint = document.createElement("span");
    hint.className = "visually-hidden";
    hint.textContent = " (opens in a new tab)";
    a.append(hint);
  } else {
    a.append(...label);
  }
  return a;
}

/** Inline Markdown of one line as an array of DOM nodes. */
export function inline(text, depth = 0) {
  const nodes = [];
  if (depth > 4) return [document.createTextNode(text)];
  let last = 0;
  INLINE.lastIndex = 0;
  const matches = [...text.matchAll(INLINE)];
  for (const m of matches) {
    if (m.index > last) nodes.push(document.createTextNode(text.slice(last, m.index)));
    let node = null;
    const inner = m[2] ?? m[5] ?? m[6];
    if (inner !== undefined && !HAS_WORD.test(inner)) {
      node = document.createTextNode(m[0]);
    } else if (m[2] !== undefined) {
      node = document.createElement("strong");
      node.append(...inline(m[2], depth + 1));
    } else if (m[3] !== undefined) {
      node = link(inline(m[3], depth + 1), m[4]);
      if (!node) node = document.createTextNode(m[3]);
    } else if (m[5] !== undefined || m[6] !== undefined) {
      node = document.createElement("em");
      node.append(...inline(m[5] ?? m[6], depth + 1));
    } else if (m[7] !== undefined) {
      node = document.createElement("code");
      node.textContent = m[7];
    } else if (m[8] !== undefined) {
      node = link([document.createTextNode(m[8])], m[8]) || document.createTextNode(m[8]);
    }
    nodes.push(node);
    last = m.index + m[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

/** A DocumentFragment with the rendered Markdown of `text`. */
export function render(text) {
  const out = document.createDocumentFragment();
  const lines = String(text ?? "").replace(/\r\n?/g, "\n").split("\n");
  let para = null;
  let list = null;
  const endPara = () => {
    para = null;
  };
  const endList = () => {
    list = null;
  };
  for (const raw of lines) {
    const line = raw.replace(/\s+$/, "");
    if (!line.trim()) {
      endPara();
      endList();
      continue;
    }
    const item = LIST_ITEM.exec(line);
    if (item) {
      endPara();
      const ordered = item[1] !== undefined;
      const tag = ordered ? "OL" : "UL";
      if (!list || list.tagName !== tag) {
        list = document.createElement(tag.toLowerCase());
        if (ordered && item[1] !== "1") list.start = Number(item[1]);
        out.append(list);
      }
      const li = document.createElement("li");
      li.append(...inline(item[2]));
      list.append(li);
      continue;
    }
    endList();
    if (/^Source:\s/.test(line.trim())) {
      endPara();
      const p = document.createElement("p");
      p.className = "source";
      p.append(...inline(line.trim()));
      out.append(p);
      continue;
    }
    if (para) {
      para.append(document.createElement("br"));
    } else {
      para = document.createElement("p");
      out.append(para);
    }
    para.append(...inline(line.trim()));
  }
  return out;
}
