// Shared helpers for csbot's pages: the JSON fetch wrapper, DOM building, sign-in, formatting.
//
// Server data is only ever inserted as text (textContent / createTextNode): no innerHTML here or
// in the page scripts, so messages, names and titles render inert whatever they contain.

/** An API call that failed: the HTTP status and a message for a person to read. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** A readable line from FastAPI's `detail`: a string, or a list of validation errors. */
export function describeDetail(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((e) => {
        const loc = Array.isArray(e.loc) ? e.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${e.msg}` : String(e.msg ?? JSON.stringify(e));
      })
      .join("; ");
  }
  return detail == null ? "" : JSON.stringify(detail);
}

/**
 * fetch() a JSON API path. Resolves to the parsed body (null for 204); rejects with ApiError.
 * options: method, body (sent as JSON), token (a bearer token).
 */
export async function api(path, { method = "GET", body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch (err) {
    throw new ApiError(0, `Cannot reach the server (${err.message}).`);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = data && typeof data === "object" ? describeDetail(data.detail) : "";
    throw new ApiError(response.status, detail || `${response.status} ${response.statusText}`);
  }
  return data;
}

/**
 * Create an element. attrs: class, testid (data-testid), text (textContent), hidden, and any
 * other attribute set with setAttribute. children: nodes or strings (added as text nodes).
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (key === "text") node.textContent = value;
    else if (key === "hidden") node.hidden = true;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

/** Show an error in a banner (an element with a [data-role=message] child, or itself). */
export function showError(banner, err) {
  const target = banner.querySelector("[data-role=message]") ?? banner;
  target.textContent = err instanceof Error ? err.message : String(err);
  banner.hidden = false;
}

export function clearError(banner) {
  banner.hidden = true;
}

/** Disable a button while a request runs, with a "…" label; returns a function that restores. */
export function busy(button, label) {
  const before = button.textContent;
  button.disabled = true;
  if (label) button.textContent = label;
  return () => {
    button.disabled = false;
    button.textContent = before;
  };
}

/** Call fn every `ms` milliseconds, never overlapping; returns a stop function. */
export function every(ms, fn) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    try {
      await fn();
    } finally {
      if (!stopped) timer = setTimeout(tick, ms);
    }
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// ---- sign-in -------------------------------------------------------------------------------
/** Render the sign-in form into `container`; calls onSignedIn(LoginOut) after a good login. */
export function renderLogin(container, onSignedIn) {
  const username = el("input", {
    id: "login-username",
    name: "username",
    autocomplete: "username",
    required: true,
    testid: "login-username",
  });
  const password = el("input", {
    id: "login-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    testid: "login-password",
  });
  const submit = el("button", { type: "submit", testid: "login-submit", text: "Sign in" });
  const error = el(
    "div",
    { class: "banner error", role: "alert", testid: "login-error", hidden: true },
    el("span", { "data-role": "message" }),
  );
  const form = el(
    "form",
    { class: "card login", testid: "login-form" },
    el("h2", { text: "Sign in" }),
    error,
    el("label", { for: "login-username", text: "Username" }),
    username,
    el("label", { for: "login-password", text: "Password" }),
    password,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError(error);
    const restore = busy(submit, "Signing in…");
    try {
      const out = await api("/api/auth/login", {
        method: "POST",
        body: { username: username.value, password: password.value },
      });
      password.value = "";
      onSignedIn(out);
    } catch (err) {
      showError(error, err);
    } finally {
      restore();
    }
  });
  container.replaceChildren(form);
  container.hidden = false;
  username.focus();
}

/**
 * Make sure someone with `role` is signed in, then call onReady(me). Shows the sign-in form on
 * 401 and a "this account cannot see this page" message for another role. `page` holds the
 * elements: login (the form's container), denied, content, user (the signed-in line), logout.
 */
export async function requireRole(role, page, onReady) {
  page.content.hidden = true;
  page.denied.hidden = true;
  page.login.hidden = true;
  let me;
  try {
    me = await api("/api/auth/me");
  } catch (err) {
    if (err.status === 401) {
      renderLogin(page.login, () => requireRole(role, page, onReady));
      return;
    }
    showError(page.denied, err);
    return;
  }
  page.user.textContent = `Signed in as ${me.username} (${me.role})`;
  page.logout.hidden = false;
  page.login.hidden = true;
  if (me.role !== role) {
    showError(page.denied, new Error("This account cannot see this page."));
    return;
  }
  page.content.hidden = false;
  onReady(me);
}

/** Wire the sign-out button: POST /api/auth/logout, then reload the page. */
export function wireLogout(button) {
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api("/api/auth/logout", { method: "POST" });
    } catch {
      // Signed out already, or the server is gone: reloading shows the sign-in form either way.
    }
    window.location.reload();
  });
}

// ---- formatting ----------------------------------------------------------------------------
export function fmtRate(x, digits = 1) {
  return x === null || x === undefined ? "—" : `${(x * 100).toFixed(digits)}%`;
}

export function fmtPoints(x) {
  const pts = (x * 100).toFixed(1);
  return `${x > 0 ? "+" : ""}${pts} pts`;
}

export function fmtP(p) {
  return p < 0.001 ? "< 0.001" : p.toFixed(3);
}

export function fmtDate(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

export function fmtDay(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleDateString();
}

export function fmtMoney(amount) {
  const n = Number(amount);
  return Number.isFinite(n) ? `$${n.toFixed(2)}` : String(amount);
}
