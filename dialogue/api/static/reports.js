// Experiment reports: the list of runs with a "Start a run" form, and one run's report
// (/reports?key=KEY): the arm table, the comparisons and the full HTML report in a sandbox.
import * as c from "/static/common.js";

const { api, el } = c;
const REFRESH_MS = 5000;
const ACTIVE = new Set(["starting", "running"]);

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const errorBanner = $("error-banner");
const page = {
  login: $("login"),
  denied: $("denied"),
  content: $("content"),
  user: $("user"),
  logout: $("logout"),
};
let timer = null;

function fail(err) {
  if (err.status === 401) {
    c.requireRole("owner", page, ready);
  } else if (err.status === 403) {
    page.content.hidden = true;
    c.showError(page.denied, new Error("This account cannot see this page."));
  } else {
    c.showError(errorBanner, err);
  }
}

function later(fn) {
  clearTimeout(timer);
  timer = setTimeout(fn, REFRESH_MS);
}

function reportUrl(key) {
  return `/reports?key=${encodeURIComponent(key)}`;
}

function progress(x) {
  return el(
    "span",
    { testid: "progress" },
    el("progress", { max: x.contacts, value: x.contacts_done }),
    ` ${x.contacts_done}/${x.contacts}`,
  );
}

function statusBadge(status) {
  const kind = { finished: "ok", failed: "action", running: "warn", starting: "warn" }[status];
  return el("span", { class: `badge ${kind ?? ""}`, testid: "status", text: status });
}

// ---- the list ------------------------------------------------------------------------------
function experimentRow(x) {
  const row = el(
    "tr",
    { class: "clickable", testid: "experiment-row", "data-key": x.key },
    el(
      "td",
      {},
      el("a", { href: reportUrl(x.key), testid: "experiment-name", text: x.name || x.key }),
    ),
    el("td", {}, statusBadge(x.status)),
    el("td", { text: x.arms.join(", ") }),
    el("td", {}, progress(x)),
    el("td", { class: "num", text: String(x.seed) }),
    el("td", { text: c.fmtDate(x.created_at) }),
    el("td", { text: c.fmtDate(x.finished_at) }),
  );
  row.addEventListener("click", (event) => {
    if (!event.target.closest("a")) window.location.assign(reportUrl(x.key));
  });
  return row;
}

async function loadList() {
  try {
    const runs = await api("/api/experiments");
    c.clearError(errorBanner);
    $("experiments-empty").hidden = runs.length > 0;
    $("experiments").hidden = runs.length === 0;
    $("experiments").tBodies[0].replaceChildren(...runs.map(experimentRow));
    if (runs.some((x) => ACTIVE.has(x.status))) later(loadList);
  } catch (err) {
    fail(err);
    if (err.status !== 401 && err.status !== 403) later(loadList);
  } finally {
    $("experiments-loading").hidden = true;
  }
}

$("start-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const banner = $("start-error");
  c.clearError(banner);
  const arms = $("start-arms").value.trim();
  const contacts = Number($("start-contacts").value);
  const seed = Number($("start-seed").value || 0);
  if (!arms) return c.showError(banner, "Name at least one arm, e.g. rules,ranker.");
  if (!Number.isInteger(contacts) || contacts < 1) {
    return c.showError(banner, "Contacts must be a whole number of at least 1.");
  }
  if (!Number.isInteger(seed) || seed < 0) {
    return c.showError(banner, "Seed must be a whole number ≥ 0.");
  }
  const restore = c.busy($("start-submit"), "Starting…");
  try {
    await api("/api/experiments", {
      method: "POST",
      body: { arms, contacts, seed, name: $("start-name").value.trim(), workers: 1 },
    });
    await loadList();
  } catch (err) {
    if (err.status === 401 || err.status === 403) fail(err);
    else c.showError(banner, err);
  } finally {
    restore();
  }
});

// ---- one report ----------------------------------------------------------------------------
function cells(...values) {
  return values.map((v) => (typeof v === "string" ? el("td", { text: v }) : v));
}

function armRow(a) {
  return el(
    "tr",
    { testid: "arm-row", "data-arm": a.arm },
    ...cells(
      a.arm,
      el("td", { class: "num", text: String(a.contacts) }),
      el("td", { class: "num", text: String(a.automated) }),
      el("td", { class: "num", testid: "automation-rate", text: c.fmtRate(a.automation_rate) }),
      `${c.fmtRate(a.ci_low)} – ${c.fmtRate(a.ci_high)}`,
    ),
  );
}

function comparisonRow(x) {
  return el(
    "tr",
    { testid: "comparison-row", "data-arm": x.arm },
    ...cells(
      x.arm,
      x.control,
      el("td", { class: "num", text: c.fmtPoints(x.difference) }),
      `${c.fmtPoints(x.ci_low)} to ${c.fmtPoints(x.ci_high)}`,
      el("td", { class: "num", text: c.fmtP(x.p_value) }),
    ),
  );
}

function emptyRow(columns, text) {
  return el("tr", {}, el("td", { class: "muted", colspan: columns, text }));
}

async function loadReport(key) {
  try {
    const r = await api(`/api/experiments/${encodeURIComponent(key)}`);
    c.clearError(errorBanner);
    document.title = `csbot — ${r.name || r.key}`;
    $("report-title").replaceChildren(`${r.name || r.key} `, statusBadge(r.status));
    $("report-meta").replaceChildren(
      `key ${r.key} · arms ${r.arms.join(", ")} · seed ${r.seed} · contacts `,
      progress(r),
      ` · started ${c.fmtDate(r.created_at)} · finished ${c.fmtDate(r.finished_at)}`,
    );
    const arms = r.arm_summaries.map(armRow);
    const comparisons = r.comparisons.map(comparisonRow);
    $("arm-table").tBodies[0].replaceChildren(
      ...(arms.length ? arms : [emptyRow(5, "No figures yet.")]),
    );
    $("comparisons").tBodies[0].replaceChildren(
      ...(comparisons.length ? comparisons : [emptyRow(5, "No comparisons.")]),
    );
    $("log").hidden = !r.log_tail;
    $("log-tail").textContent = r.log_tail ?? "";
    $("report-summary").hidden = false;
    const frame = $("report-frame");
    const src = `/api/experiments/${encodeURIComponent(r.key)}/report.html`;
    if (r.has_report && frame.getAttribute("src") !== src) frame.setAttribute("src", src);
    $("report-html").hidden = !r.has_report;
    if (ACTIVE.has(r.status)) later(() => loadReport(key));
  } catch (err) {
    fail(err);
  } finally {
    $("report-loading").hidden = true;
  }
}

function ready() {
  const key = new URLSearchParams(window.location.search).get("key");
  $("list-view").hidden = Boolean(key);
  $("report-view").hidden = !key;
  if (key) loadReport(key);
  else loadList();
}

c.wireLogout(page.logout);
c.requireRole("owner", page, ready);
