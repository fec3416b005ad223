// The customer's chat widget: start (or resume) a conversation, send messages, show replies;
// once a rep has the conversation (mode "assist"), poll the transcript for their answers.
import { api, clearError, el, every, showError } from "/static/common.js";

const STORAGE_KEY = "csbot.chat";
const POLL_MS = 2000;
const WHO = { customer: "You", agent: "csbot", rep: "Support rep" };

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const messages = $("messages");
const input = $("chat-input");
const sendButton = $("chat-send");
const typing = $("typing");
const notice = $("chat-notice");
const errorBanner = $("error-banner");

let chat = null; // {id, token, status, mode, lastIndex, lastSpeaker, seen: Set<index>}
let stopPolling = null;

function setNotice(text, ...extra) {
  notice.replaceChildren(text ?? "", ...extra);
  notice.hidden = !text;
}

function setInputEnabled(enabled) {
  input.disabled = !enabled;
  sendButton.disabled = !enabled;
}

function addMessage(speaker, text, index = null) {
  const node = el(
    "div",
    { class: `msg ${speaker}`, testid: "message", "data-speaker": speaker },
    el("span", { class: "who", text: WHO[speaker] ?? speaker }),
    el("span", { class: "text", testid: "message-text", text }),
  );
  if (index !== null) node.dataset.index = String(index);
  messages.append(node);
  messages.scrollTop = messages.scrollHeight;
  return node;
}

function record(index, speaker) {
  chat.seen.add(index);
  if (index > chat.lastIndex) {
    chat.lastIndex = index;
    chat.lastSpeaker = speaker;
  }
}

/** Bring the notice, the input and the polling in line with the conversation's status/mode. */
function settle() {
  if (chat.status === "closed") {
    stopPoll();
    setInputEnabled(false);
    const again = el("button", {
      type: "button",
      class: "secondary",
      testid: "restart-closed",
      text: "Start a new conversation",
    });
    again.addEventListener("click", restart);
    setNotice("This conversation is closed. ", again);
    return;
  }
  setInputEnabled(true);
  if (queued()) {
    setNotice(chat.lastSpeaker === "rep" ? null : "A colleague will reply here shortly.");
    if (!stopPolling) stopPolling = every(POLL_MS, poll);
  } else {
    setNotice(null);
  }
}

/** Whether a rep answers now (the bot handed off, or the conversation runs in assist mode). */
function queued() {
  return chat.status === "handed_off" || chat.mode === "assist";
}

function stopPoll() {
  if (stopPolling) stopPolling();
  stopPolling = null;
}

function save() {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ id: chat.id, token: chat.token }));
}

async function poll() {
  if (!chat) return;
  try {
    const transcript = await api(`/api/conversations/${chat.id}?after=${chat.lastIndex}`, {
      token: chat.token,
    });
    for (const turn of transcript.turns) {
      if (chat.seen.has(turn.index)) continue;
      addMessage(turn.speaker, turn.text, turn.index);
      record(turn.index, turn.speaker);
    }
    chat.status = transcript.status;
    chat.mode = transcript.mode;
    clearError(errorBanner);
    settle();
  } catch (err) {
    showError(errorBanner, err);
  }
}

async function start() {
  stopPoll();
  messages.replaceChildren();
  setInputEnabled(false);
  setNotice(null);
  typing.hidden = true;
  const loading = el("div", { class: "notice loading", testid: "loading", text: "Loading…" });
  messages.append(loading);
  try {
    const stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
    if (stored && (await resume(stored))) return;
    const started = await api("/api/conversations", { method: "POST" });
    chat = {
      id: started.conversation_id,
      token: started.token,
      status: started.status,
      mode: started.mode,
      lastIndex: -1,
      lastSpeaker: null,
      seen: new Set(),
    };
    save();
    clearError(errorBanner);
    messages.append(
      el(
        "div",
        { class: "msg agent", testid: "greeting" },
        el("span", { class: "who", text: WHO.agent }),
        "Hi! I can tell you where a refund is, or cancel an order. How can I help?",
      ),
    );
    settle();
    input.focus();
  } catch (err) {
    showError(errorBanner, err);
  } finally {
    loading.remove();
  }
}

/** Resume a stored conversation; false when the server no longer knows it (start afresh). */
async function resume(stored) {
  let transcript;
  try {
    transcript = await api(`/api/conversations/${stored.id}`, { token: stored.token });
  } catch (err) {
    if ([401, 403, 404].includes(err.status)) return false;
    throw err;
  }
  chat = { ...stored, status: transcript.status, mode: transcript.mode };
  chat.lastIndex = -1;
  chat.lastSpeaker = null;
  chat.seen = new Set();
  for (const turn of transcript.turns) {
    addMessage(turn.speaker, turn.text, turn.index);
    record(turn.index, turn.speaker);
  }
  settle();
  return true;
}

async function send(text) {
  clearError(errorBanner);
  setInputEnabled(false);
  const mine = addMessage("customer", text);
  typing.hidden = queued();
  try {
    const result = await api(`/api/conversations/${chat.id}/messages`, {
      method: "POST",
      token: chat.token,
      body: { text },
    });
    mine.dataset.index = String(result.index);
    record(result.index, "customer");
    if (result.reply) {
      // The bot's reply is the turn right after the customer's message.
      addMessage(result.reply.speaker, result.reply.text, result.index + 1);
      record(result.index + 1, result.reply.speaker);
    }
    chat.status = result.status;
    chat.mode = result.mode;
    input.value = "";
  } catch (err) {
    mine.remove();
    showError(errorBanner, err);
  } finally {
    typing.hidden = true;
    settle();
    if (!input.disabled) input.focus();
  }
}

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (text && chat && !sendButton.disabled) send(text);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("chat-form").requestSubmit();
  }
});

function restart() {
  sessionStorage.removeItem(STORAGE_KEY);
  chat = null;
  start();
}

$("restart").addEventListener("click", restart);

start();
