// nodegate web console: plain DOM + fetch, no build step. Every request carries the login cookie
// (or the browser's client certificate) and goes through the node's auth policy.
"use strict";

const $ = (id) => document.getElementById(id);
const FACES = ["", "\u2680", "\u2681", "\u2682", "\u2683", "\u2684", "\u2685"];

async function api(method, path, body, contentType) {
  const init = { method, credentials: "same-origin", headers: { "x-nodegate-console": "1" } };
  if (body !== undefined) {
    init.body = body;
    init.headers["content-type"] = contentType || "application/json";
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = text;
  if ((res.headers.get("content-type") || "").startsWith("application/json")) {
    try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
  }
  if (!res.ok) {
    const err = new Error((data && data.error) || res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fill(tableId, rows, render) {
  const tbody = $(tableId).querySelector("tbody");
  tbody.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    render(tr, r);
    tbody.appendChild(tr);
  }
}

function showLogin(message) {
  $("main").classList.add("hidden");
  // No node id until a login shows one (an empty badge looked like a missing value).
  $("node-id").textContent = "";
  $("node-id").classList.add("hidden");
  $("logout-button").classList.add("hidden");
  $("login").classList.remove("hidden");
  $("login-error").textContent = message || "";
}

async function loadNode() {
  const n = await api("GET", "/api/v1/node");
  $("login").classList.add("hidden");
  $("main").classList.remove("hidden");
  $("logout-button").classList.remove("hidden");
  $("node-id").textContent = n.node_id;
  $("node-id").classList.toggle("hidden", !n.node_id);
  $("cert-node").textContent = n.node_id;
  const p = n.principal;
  $("whoami").textContent = `${p.kind}:${p.id}` + (p.roles.length ? ` [${p.roles.join(", ")}]` : "") +
    ` via ${p.authenticators.join("+")}`;
  const c = n.certificate;
  $("cert-subject").textContent = c.subject;
  $("cert-issuer").textContent = c.issuer;
  $("cert-sans").textContent = c.sans.join(", ");
  $("cert-serial").textContent = c.serial;
  $("cert-key").textContent = c.key_type;
  $("cert-expiry").textContent = `${c.not_after} (${c.days_left} days left)`;
  $("cert-expiry").className = c.days_left < 14 ? "warn" : "ok";
  $("cert-fingerprint").textContent = c.fingerprint_sha256;
  const ul = $("listeners");
  ul.replaceChildren();
  for (const l of n.listeners) {
    const li = document.createElement("li");
    li.textContent = `${l.name}: ${l.address}`;
    ul.appendChild(li);
  }
  document.title = `nodegate console — ${n.node_id}`;
}

// The Prometheus text from /metrics → [{method, code, value}] for nodegate_grpc_calls_total.
function parseCalls(text) {
  const out = [];
  const re = /^nodegate_grpc_calls_total\{method="([^"]*)",code="([^"]*)"\}\s+([0-9.eE+]+)$/;
  for (const line of text.split("\n")) {
    const m = re.exec(line);
    if (m && Number(m[3]) > 0) out.push({ method: m[1], code: m[2], value: Number(m[3]) });
  }
  return out;
}

async function loadCalls() {
  const text = await api("GET", "/metrics");
  fill("calls", parseCalls(text), (tr, r) => {
    cell(tr, r.method, "mono small");
    cell(tr, r.code, r.code === "OK" ? "code-OK" : "code-bad");
    cell(tr, r.value);
  });
}

async function loadAccessLog() {
  const lines = await api("GET", "/api/v1/access-log");
  fill("access-log", lines.slice().reverse(), (tr, r) => {
    cell(tr, (r.time || "").replace("T", " ").replace("Z", ""));
    cell(tr, r.method, "mono");
    cell(tr, r.status, r.status === "OK" ? "code-OK" : "code-bad");
    cell(tr, r.duration_ms);
    cell(tr, r.principal);
    cell(tr, r.peer);
    cell(tr, r.reason);
  });
}

async function loadPolicy() {
  const p = await api("GET", "/api/v1/policy");
  const rows = p.rules.concat(p.http_routes.map((r) => Object.assign({}, r, { method: `${r.route} → ${r.method}` })));
  fill("policy", rows, (tr, r) => {
    cell(tr, r.method, "mono small");
    cell(tr, r.public ? "public" : r.pattern);
    cell(tr, r.authenticators.join(", "));
    cell(tr, r.roles.join(", "));
    cell(tr, r.source);
  });
}

async function loadNodes() {
  try {
    const r = await api("GET", "/api/v1/nodes");
    fill("nodes", r.nodes, (tr, n) => {
      cell(tr, n.id, "mono");
      cell(tr, n.algorithm);
      cell(tr, n.roles.join(", "));
      cell(tr, n.enabled ? "yes" : "no");
    });
    $("nodes-note").textContent = r.nodes.length ? "" : "no nodes registered";
  } catch (e) {
    fill("nodes", [], () => {});
    $("nodes-note").textContent = e.status === 403 ? "needs the admin role" : e.message;
  }
}

async function loadKeys() {
  const prefix = $("kv-prefix").value;
  $("kv-error").textContent = "";
  try {
    const r = await api("GET", "/api/v1/kv?prefix=" + encodeURIComponent(prefix));
    const ul = $("kv-keys");
    ul.replaceChildren();
    for (const k of r.keys) {
      const li = document.createElement("li");
      li.textContent = k;
      li.dataset.key = k;
      li.addEventListener("click", () => showValue(k));
      ul.appendChild(li);
    }
    if (!r.keys.length) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = "(no keys)";
      ul.appendChild(li);
    }
  } catch (e) {
    $("kv-error").textContent = e.message;
  }
}

async function showValue(key) {
  try {
    const v = await api("GET", "/api/v1/kv/" + encodeURIComponent(key));
    const pre = $("kv-value");
    pre.textContent = `${key} = ${v.value !== undefined ? v.value : "(binary) " + v.value_base64}` +
      `\n${v.content_type || "no content type"}, updated ${v.updated_at}`;
    pre.classList.remove("hidden");
  } catch (e) {
    $("kv-error").textContent = e.message;
  }
}

async function roll() {
  const button = $("roll-button");
  button.disabled = true;
  $("die-note").textContent = "rolling…";
  $("die-note").className = "muted small";
  $("die-face").classList.remove("failed");
  try {
    const r = await api("POST", "/api/v1/dice/roll", "{}");
    $("die-face").textContent = FACES[r.face] || "?";
    $("die-face").dataset.face = r.face;
    $("die-note").textContent = `face ${r.face} from ${r.via} at ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    // A refused or failed roll is an error, not a result: no face, the reason in red.
    $("die-face").textContent = "\u2715";
    $("die-face").classList.add("failed");
    delete $("die-face").dataset.face;
    $("die-note").textContent = `roll failed (${e.status || "network"}): ${e.message}`;
    $("die-note").className = "error small";
  } finally {
    button.disabled = false;
    refreshLive();
  }
}

async function refreshLive() {
  await Promise.allSettled([loadCalls(), loadAccessLog()]);
}

async function start() {
  try {
    await loadNode();
  } catch (e) {
    if (e.status === 401 || e.status === 403) {
      showLogin(e.status === 403 ? e.message : "");
      return;
    }
    showLogin("cannot reach the node: " + e.message);
    return;
  }
  await Promise.allSettled([loadPolicy(), loadNodes(), loadKeys(), refreshLive()]);
  document.body.dataset.ready = "1";
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/api/v1/login", JSON.stringify({ token: $("login-token").value }));
      $("login-token").value = "";
      await start();
    } catch (e) {
      $("login-error").textContent = e.message;
    }
  });
  $("logout-button").addEventListener("click", async () => {
    await api("POST", "/api/v1/logout", "{}").catch(() => {});
    showLogin("logged out");
  });
  $("roll-button").addEventListener("click", roll);
  $("kv-filter").addEventListener("submit", (ev) => { ev.preventDefault(); loadKeys(); });
  $("kv-set").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = $("kv-new-key").value;
    if (!key) return;
    try {
      await api("PUT", "/api/v1/kv/" + encodeURIComponent(key), $("kv-new-value").value, "text/plain");
      await loadKeys();
    } catch (e) {
      $("kv-error").textContent = e.message;
    }
  });
  setInterval(() => { if (!$("main").classList.contains("hidden")) refreshLive(); }, 3000);
  start();
});
