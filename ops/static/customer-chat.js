/*
 * How a customer's chat app should render a Flex chat that flex-chat-transfer takes part in.
 *
 * The service posts notices (joined, left, transfer-started, transfer-failed, chat-ended) as
 * ordinary Conversations messages whose attributes say {"notification": true,
 * "notificationType": "..."}. A chat app that shows them as chat lines makes "Alice joined the
 * chat" look like something a person wrote; render them as notices instead. This file is the
 * whole rule, with no dependencies: copy `classifyMessage` and `renderMessage` into your app.
 */
"use strict";

const NOTICE_TYPES = ["joined", "left", "transfer-started", "transfer-failed", "chat-ended"];
const NOTICE_ICONS = {
  joined: "\u2192", // →
  left: "\u2190", // ←
  "transfer-started": "\u21c4", // ⇄
  "transfer-failed": "\u26a0", // ⚠
  "chat-ended": "",
};

/* Message attributes: a JSON string over REST, an object from the Conversations SDK. */
function parseAttributes(raw) {
  if (raw && typeof raw === "object") return raw;
  if (typeof raw !== "string" || raw === "") return {};
  try {
    const value = JSON.parse(raw);
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch (_error) {
    return {};
  }
}

/* {kind: "notice", type} for a notice; {kind: "mine" | "theirs"} for a chat line. */
function classifyMessage(message, me) {
  const attributes = parseAttributes(message.attributes);
  if (attributes.notification === true) {
    const type = NOTICE_TYPES.includes(attributes.notificationType) ? attributes.notificationType : "other";
    return { kind: "notice", type, attributes };
  }
  return { kind: message.author === me ? "mine" : "theirs", attributes };
}

function noticeText(message, attributes) {
  if (message.body) return message.body; // the service writes it in the chat's language
  const who = attributes.workerName || attributes.targetName || "";
  return [who, attributes.notificationType].filter(Boolean).join(" ");
}

/* One <li> for one message. Text goes in with textContent, never as HTML. */
function renderMessage(message, me, names) {
  const doc = globalThis.document;
  const item = doc.createElement("li");
  const seen = classifyMessage(message, me);
  item.dataset.index = String(message.index);
  if (seen.kind === "notice") {
    item.className = `notice notice--${seen.type}`;
    item.setAttribute("role", "status");
    item.dataset.notificationType = seen.attributes.notificationType || "";
    const icon = NOTICE_ICONS[seen.type];
    if (icon) {
      const mark = doc.createElement("span");
      mark.className = "notice__icon";
      mark.setAttribute("aria-hidden", "true");
      mark.textContent = icon;
      item.append(mark);
    }
    const text = doc.createElement("span");
    text.className = "notice__text";
    text.textContent = noticeText(message, seen.attributes);
    item.append(text);
    return item;
  }
  item.className = seen.kind === "mine" ? "line line--customer" : "line line--agent";
  const author = doc.createElement("div");
  author.className = "line__author";
  author.textContent = seen.kind === "mine" ? "You" : (names && names[message.author]) || message.author || "";
  const bubble = doc.createElement("div");
  bubble.className = "bubble";
  bubble.textContent = message.body || "";
  item.append(author, bubble);
  return item;
}

if (typeof module !== "undefined") {
  module.exports = { parseAttributes, classifyMessage, renderMessage };
}
