// The agent-assist panel: the queue (left), the open conversation with the bot's top-4
// suggestions, its draft and an editor (middle), the customer's profile and orders (right).
import * as c from "/static/common.js";

const { api, el } = c;
const REFRESH_MS = 3000;
const WHO = { customer: "Customer", agent: "csbot", rep: "Support rep" };
const ACTIONS = {
  cancel_order: "cancels the order",
  handoff: "hands off",
  end_conversation: "ends the conversation",
};
const METRICS = [
  ["rep_replies", "Rep replies", String],
  ["with_suggestions", "With suggestions", String],
  ["top1_acceptance", "Top-1 acceptance", c.fmtRate],
  ["top4_acceptance", "Top-4 acceptance", c.fmtRate],
  ["response_coverage", "Response coverage", c.fmtRate],
  ["edit_rate", "Edit rate", c.fmtRate],
  ["draft_offered", "Drafts offered", String],
  ["draft_used", "Drafts used", String],
];

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const errorBanner = $("error-banner");
const editor = $("editor");
const page = {
  login: $("login"),
  denied: $("denied"),
  content: $("content"),
  user: $("user"),
  logout: $("logout"),
};

let openId = null; // the conversation on screen
let shownView = ""; // its last rendered JSON, to re-render only on change
let origin = { source: "own", template_id: null }; // where the editor's text came from
let sending = false;
let loads = 0; // bumped by every load of the view and every send: only the latest may render
let viewsInFlight = 0; // a refresh does not pile another request onto a slow one
let signedIn = false;

function fail(err) {
  if (err.status === 401 && signedIn) {
    signedIn = false; // the session ended: sign in again, then carry on
    c.requireRole("rep", page, start);
    return;
  }
  c.showError(errorBanner, err);
}

function say(text) {
  c.showError($("reply-result"), text);
}

// ---- metrics and queue -----------------------------------------------------------------
async function loadMetrics() {
  const m = await api("/api/assist/metrics");
  $("metrics").replaceChildren(
    ...METRICS.map(([key, name, fmt]) =>
      el(
        "div",
        { class: "metric", testid: `metric-${key}` },
        el("span", { class: "value", text: fmt(m[key]) }),
        el("span", { class: "name", text: name }),
      ),
    ),
  );
}

function queueItem(item) {
  const li = el(
    "li",
    {
      class: [item.waiting && "waiting", String(item.conversation_id) === openId && "selected"]
        .filter(Boolean)
        .join(" "),
      tabindex: 0,
      testid: "queue-item",
      "data-conversation-id": item.conversation_id,
      "data-waiting": item.waiting ? "true" : "false",
    },
    el("strong", { text: `#${item.conversation_id} ` }),
    el("span", { testid: "queue-name", text: item.customer_name ?? "Unknown customer" }),
    " ",
    item.waiting ? el("span", { class: "badge warn", text: "waiting" }) : null,
    item.status === "closed" ? el("span", { class: "badge", text: "closed" }) : null,
    el("span", { class: "last", testid: "queue-last", text: item.last_customer_text ?? "—" }),
    el("span", {
      class: "muted small",
      text: `${item.turns} turns · ${c.fmtDate(item.last_activity_at)}${
        item.assigned_to ? ` · ${item.assigned_to}` : ""
      }`,
    }),
  );
  const open = () => openConversation(item.conversation_id, { push: true });
  li.addEventListener("click", open);
  li.addEventListener("keydown", (e) => e.key === "Enter" && open());
  return li;
}

async function loadQueue() {
  const items = await api("/api/assist/queue");
  $("queue-loading").hidden = true;
  $("queue-empty").hidden = items.length > 0;
  $("queue").replaceChildren(...items.map(queueItem));
}

// ---- the open conversation ---------------------------------------------------------------
function renderTurn(turn) {
  return el(
    "div",
    { class: `msg ${turn.speaker}`, testid: "turn", "data-speaker": turn.speaker },
    el(
      "span",
      { class: "who" },
      WHO[turn.speaker] ?? turn.speaker,
      turn.act ? el("span", { class: "act", text: turn.act }) : null,
    ),
    el("span", { class: "text", testid: "turn-text", text: turn.text }),
  );
}

function cardButtons(prefix, reply) {
  const send = el("button", { type: "button", testid: `${prefix}-send`, text: "Send" });
  const edit = el("button", {
    type: "button",
    class: "secondary",
    testid: `${prefix}-edit`,
    text: "Edit",
  });
  send.addEventListener("click", () => sendReply(reply, send));
  edit.addEventListener("click", () => {
    editor.value = reply.text;
    origin = { source: reply.source, template_id: reply.template_id };
    $("editor-source").textContent = `(editing ${reply.label})`;
    $("reply-result").hidden = true;
    editor.focus();
  });
  return el("div", { class: "buttons" }, send, edit);
}

function renderSuggestion(s) {
  const reply = {
    source: "suggestion",
    template_id: s.template_id,
    text: s.text,
    label: `suggestion #${s.rank}`,
  };
  return el(
    "div",
    {
      class: "suggestion",
      testid: "suggestion",
      "data-rank": s.rank,
      "data-template-id": s.template_id,
      "data-action": s.action ?? "",
    },
    el(
      "div",
      { class: "meta" },
      el("strong", { text: `#${s.rank}` }),
      el("span", { class: "badge", testid: "suggestion-act", text: s.act }),
      el("span", { testid: "suggestion-score", text: `score ${s.score.toFixed(2)}` }),
      s.action
        ? el("span", { class: "badge action", text: ACTIONS[s.action] ?? s.action })
        : null,
    ),
    el("div", { class: "text", testid: "suggestion-text", text: s.text }),
    cardButtons("suggestion", reply),
  );
}

function renderDraft(d) {
  const reply = { source: "draft", template_id: null, text: d.text, label: "the draft" };
  return el(
    "div",
    { class: `suggestion draft${d.grounded ? "" : " flagged"}`, testid: "draft" },
    el(
      "div",
      { class: "meta" },
      el("strong", { text: "Draft" }),
      d.act ? el("span", { class: "badge", text: d.act }) : null,
      d.grounded
        ? el("span", { class: "badge ok", text: "grounded" })
        : el("span", { class: "badge warn", testid: "draft-flag", text: "check before sending" }),
    ),
    d.problems.length
      ? el(
          "ul",
          { class: "small", testid: "draft-problems" },
          ...d.problems.map((p) => el("li", { text: p })),
        )
      : null,
    el("div", { class: "text", testid: "draft-text", text: d.text }),
    cardButtons("draft", reply),
  );
}

function refundLine(r) {
  let when = "";
  if (r.completed_at) when = `, done ${c.fmtDay(r.completed_at)}`;
  else if (r.expected_at) when = `, expected ${c.fmtDay(r.expected_at)}`;
  const text = `Refund ${r.status}: ${c.fmtMoney(r.amount)} to ${r.method}${when}`;
  return el("li", { class: "small", text });
}

function orderCard(o) {
  return el(
    "div",
    { class: "order", testid: "order", "data-order-number": o.order_number },
    el("strong", { text: o.order_number }),
    " ",
    el("span", { class: "badge", text: o.status }),
    el("div", {
      class: "muted small",
      text: `${c.fmtMoney(o.total)} · ${c.fmtDay(o.placed_at)} · ${o.payment}`,
    }),
    el(
      "ul",
      {},
      ...o.lines.map((l) =>
        el("li", { text: `${l.quantity} × ${l.title} — ${c.fmtMoney(l.unit_price)}` }),
      ),
      ...o.refunds.map(refundLine),
    ),
  );
}

function renderCustomer(customer) {
  const body = $("customer-body");
  if (!customer) {
    body.replaceChildren(el("p", { class: "muted", text: "Not authenticated yet." }));
    return;
  }
  const facts = [
    ["Name", customer.name],
    ["Email", customer.email],
    ["Membership", customer.membership],
    ["Customer since", c.fmtDay(customer.customer_since)],
  ];
  body.replaceChildren(
    el(
      "dl",
      { testid: "profile" },
      ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]),
    ),
    el("h3", { text: `Orders (${customer.orders.length})` }),
    ...customer.orders.map(orderCard),
  );
}

function renderView(view) {
  const t = view.tracker;
  $("conversation-title").replaceChildren(
    `Conversation #${view.conversation_id} `,
    el("span", { class: "badge", testid: "conversation-status", text: view.status }),
    " ",
    el("span", { class: "badge", text: view.mode }),
    view.assigned_to ? el("span", { class: "muted small", text: ` · ${view.assigned_to}` }) : "",
  );
  const tracker = [
    `intent ${t.intent ?? "—"}`,
    t.authenticated ? "authenticated" : "not authenticated",
    `order ${t.order_number ?? "—"}`,
    `awaiting ${t.awaiting ?? "—"}`,
  ];
  if (view.list_probability !== null) {
    tracker.push(`P(good list) ${view.list_probability.toFixed(2)}`);
  }
  $("tracker").textContent = tracker.join(" · ");
  const transcript = $("transcript");
  transcript.replaceChildren(...view.turns.map(renderTurn));
  transcript.scrollTop = transcript.scrollHeight;
  const cards = view.suggestions.map(renderSuggestion);
  if (view.draft) cards.push(renderDraft(view.draft));
  $("suggestions").replaceChildren(...cards);
  const note = $("suggestions-note");
  const idle = "Nothing to answer: the customer has not written since the last reply.";
  note.textContent = view.suggestions_note ?? (view.pending ? "" : idle);
  note.hidden = cards.length > 0 || !note.textContent;
  const closed = view.status === "closed";
  for (const b of document.querySelectorAll('[data-testid="conversation-body"] button')) {
    b.disabled = closed || sending;
  }
  editor.disabled = closed;
  renderCustomer(view.customer);
}

async function openConversation(conversationId, { push = false, quiet = false } = {}) {
  const id = String(conversationId);
  if (id !== openId) {
    openId = id;
    shownView = "";
    resetEditor();
    $("reply-result").hidden = true;
  }
  if (push) history.pushState(null, "", `/assist?conversation=${encodeURIComponent(id)}`);
  $("no-conversation").hidden = true;
  if (!quiet) $("conversation-loading").hidden = false;
  const load = ++loads;
  viewsInFlight += 1;
  try {
    const view = await api(`/api/assist/conversations/${encodeURIComponent(id)}`);
    if (load !== loads) return; // a later load or a send overtook this one
    if (!quiet) c.clearError(errorBanner);
    const json = JSON.stringify(view);
    if (json !== shownView) renderView(view);
    shownView = json;
    $("conversation-body").hidden = false;
    for (const li of document.querySelectorAll('[data-testid="queue-item"]')) {
      li.classList.toggle("selected", li.dataset.conversationId === id);
    }
  } catch (err) {
    if (load !== loads) return;
    if (err.status === 404 || !quiet) {
      $("conversation-body").hidden = true;
      $("customer-body").replaceChildren();
    }
    if (err.status === 404) {
      openId = null; // nothing to refresh
      $("no-conversation").hidden = false;
    }
    fail(err);
  } finally {
    viewsInFlight -= 1;
    if (load === loads) $("conversation-loading").hidden = true;
  }
}

// ---- replying ------------------------------------------------------------------------------
function resetEditor() {
  editor.value = "";
  origin = { source: "own", template_id: null };
  $("editor-source").textContent = "(your own words)";
}

async function sendReply(reply, button) {
  if (sending || openId === null) return;
  sending = true;
  loads += 1; // what a refresh fetched before this reply is stale
  c.clearError(errorBanner);
  $("reply-result").hidden = true;
  const buttons = [...document.querySelectorAll('[data-testid="conversation-body"] button')];
  for (const b of buttons) b.disabled = true;
  const before = button.textContent;
  button.textContent = "Sending…";
  const id = openId;
  try {
    const out = await api(`/api/assist/conversations/${encodeURIComponent(id)}/reply`, {
      method: "POST",
      body: { source: reply.source, template_id: reply.template_id, text: reply.text },
    });
    if (reply.fromEditor) resetEditor();
    const action = out.action ? ` · ${ACTIONS[out.action] ?? out.action}` : "";
    say(`Sent (${out.kind})${action}.`);
  } catch (err) {
    fail(err);
  } finally {
    button.textContent = before;
    for (const b of buttons) b.disabled = false;
    sending = false;
    shownView = "";
    await Promise.allSettled([openConversation(id, { quiet: true }), loadMetrics(), loadQueue()]);
  }
}

$("editor-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = editor.value.trim();
  if (!text) {
    c.showError(errorBanner, "Write a reply first.");
    return;
  }
  sendReply({ ...origin, text, fromEditor: true }, $("editor-send"));
});

$("editor-clear").addEventListener("click", resetEditor);

$("close-conversation").addEventListener("click", async (event) => {
  const restore = c.busy(event.currentTarget, "Closing…");
  try {
    await api(`/api/assist/conversations/${encodeURIComponent(openId)}/close`, { method: "POST" });
  } catch (err) {
    fail(err);
  } finally {
    restore();
    shownView = "";
    await Promise.allSettled([openConversation(openId, { quiet: true }), loadQueue()]);
  }
});

// ---- start -------------------------------------------------------------------------------
let started = false;

async function refresh() {
  if (!signedIn) return;
  try {
    await loadQueue();
    if (openId !== null && !sending && viewsInFlight === 0) {
      await openConversation(openId, { quiet: true });
    }
  } catch (err) {
    fail(err);
  }
}

async function start() {
  signedIn = true;
  const wanted = new URLSearchParams(window.location.search).get("conversation");
  await Promise.allSettled([loadMetrics().catch(fail), refresh()]);
  if (wanted && openId === null) await openConversation(wanted);
  if (!started) c.every(REFRESH_MS, refresh);
  started = true;
}

window.addEventListener("popstate", () => {
  const wanted = new URLSearchParams(window.location.search).get("conversation");
  if (wanted) openConversation(wanted);
});

c.wireLogout(page.logout);
c.requireRole("rep", page, start);
