// The operator page: signs in through /api/users/login, keeps the token in this tab's sessionStorage,
// and reads /v1/admin/status every REFRESH_MS with it. Everything shown is set as text, never as HTML.
"use strict";

const TOKEN = "tribe.ops.token";
const USER = "tribe.ops.user";
const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);
let timer = null;

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function notice(text, kind) {
  const box = $("notice");
  box.textContent = text || "";
  box.className = kind || "";
}

function errorsOf(body) {
  const errors = (body && body.errors) || {};
  return Object.entries(errors).map(([field, messages]) => `${field} ${[].concat(messages).join(", ")}`).join("; ");
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN);
  if (token) headers.Authorization = `Token ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
  });
  let json = null;
  try {
    json = await response.json();
  } catch (_) {
    json = null;
  }
  return { status: response.status, body: json };
}

function show(state) {
  $("sign-in").hidden = state !== "sign-in";
  $("board").hidden = state !== "board";
  $("session").hidden = state === "sign-in";
  $("who").textContent = sessionStorage.getItem(USER) || "";
}

function signOut(message, kind) {
  clearTimeout(timer);
  sessionStorage.removeItem(TOKEN);
  sessionStorage.removeItem(USER);
  show("sign-in");
  notice(message, kind);
}

function ago(ms) {
  const seconds = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return new Date(ms).toLocaleString();
}

function number(n) {
  return Number(n).toLocaleString("en");
}

function versionLabel(view, version) {
  if (version.live) return el("span", { class: "tag live" }, "live");
  if (view.live_version === null || version.version > view.live_version) {
    return el("span", { class: "tag building" }, "building");
  }
  return el("span", { class: "tag previous" }, "previous");
}

function stateCell(version) {
  const cell = el("td", {}, el("span", { class: `state ${version.state}`, "data-state": version.state }, version.state));
  for (const runner of version.runners) {
    if (!runner.error) continue;
    const attempts = runner.attempts ? ` after ${runner.attempts} attempt(s)` : "";
    cell.append(el("div", { class: "error" }, `${runner.runner}: ${runner.state}${attempts}: ${runner.error}`));
  }
  return cell;
}

function lagCell(version) {
  const behind = Object.entries(version.lag).filter(([, n]) => n > 0);
  const cell = el("td", { class: "number" }, number(behind.reduce((sum, [, n]) => sum + n, 0)));
  const list = el("ul", { class: "partitions" });
  for (const [partition, n] of behind) list.append(el("li", {}, `${partition} ${number(n)}`));
  if (behind.length) cell.append(list);
  return cell;
}

function throughputCell(version) {
  const rate = version.throughput;
  return el("td", { class: "number" }, rate === null ? "measuring…" : `${number(Math.round(rate))} events/s`);
}

function progressCell(version) {
  const done = version.done;
  const total = done + Object.values(version.lag).reduce((sum, n) => sum + n, 0);
  const percent = Math.floor(version.progress * 100);
  const cell = el("td", {}, el("progress", { max: "1", value: String(version.progress) }));
  let text = `${percent}% · ${number(done)} / ${number(total)}`;
  if (!version.live && version.throughput && total > done) {
    text += ` · about ${Math.ceil((total - done) / version.throughput)} s left`;
  }
  cell.append(el("div", { class: "small" }, text));
  return cell;
}

function renderViews(views) {
  const rows = [];
  for (const view of views) {
    view.versions.forEach((version, i) => {
      const row = el("tr", { "data-view": view.view, "data-version": String(version.version) });
      if (i === 0) row.append(el("th", { rowspan: String(view.versions.length), scope: "rowgroup" }, view.view));
      row.append(
        el("td", {}, `v${version.version} `, versionLabel(view, version)),
        stateCell(version),
        lagCell(version),
        throughputCell(version),
        progressCell(version),
        el("td", { class: "number" }, number(version.dead_letters)),
      );
      rows.push(row);
    });
  }
  $("views").tBodies[0].replaceChildren(...rows);
}

function renderLetters(letters) {
  const rows = letters.map((letter) => {
    const actions = el("td", { class: "actions" });
    if (letter.state === "failed") {
      actions.append(
        el("button", { type: "button", "data-action": "retry" }, "Retry"),
        el("button", { type: "button", "data-action": "skip", class: "secondary" }, "Skip"),
      );
    }
    return el(
      "tr",
      { "data-letter-id": letter.id },
      el("td", {}, el("div", {}, letter.projection), el("div", { class: "small" }, `${letter.topic}:${letter.partition} @ ${letter.offset}`)),
      el("td", { class: "key" }, letter.key),
      el("td", {}, el("span", { class: `state ${letter.state === "failed" ? "parked" : "behind"}` }, letter.state)),
      el("td", { class: "cause" }, letter.cause),
      el("td", { class: "number" }, String(letter.attempts)),
      el("td", { title: new Date(letter.first_failed_at).toISOString() }, ago(letter.first_failed_at)),
      actions,
    );
  });
  $("letters").tBodies[0].replaceChildren(...rows);
  $("letters").hidden = rows.length === 0;
  $("no-letters").hidden = rows.length !== 0;
}

async function refresh() {
  clearTimeout(timer);
  let answer;
  try {
    answer = await call("GET", "/v1/admin/status");
  } catch (_) {
    notice("The server does not answer; trying again.", "error");
    timer = setTimeout(refresh, REFRESH_MS);
    return;
  }
  if (answer.status === 401) {
    signOut(`Signed out: ${errorsOf(answer.body) || "the token is no longer valid"}.`, "error");
    return;
  }
  if (answer.status === 403) {
    show("refused");
    notice(`${sessionStorage.getItem(USER) || "This user"} is not an admin: the page shows nothing to them.`, "error");
    return;
  }
  if (answer.status !== 200) {
    notice(`The server answered ${answer.status}: ${errorsOf(answer.body)}; trying again.`, "error");
    timer = setTimeout(refresh, REFRESH_MS);
    return;
  }
  show("board");
  if ($("notice").className === "error") notice("");
  renderViews(answer.body.views);
  renderLetters(answer.body.dead_letters);
  $("updated").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
  timer = setTimeout(refresh, REFRESH_MS);
}

async function act(button) {
  const row = button.closest("tr");
  const id = row.getAttribute("data-letter-id");
  const action = button.getAttribute("data-action");
  if (action === "skip" && !window.confirm(`Skip ${id}? Its event will never be applied to the view.`)) return;
  for (const b of row.querySelectorAll("button")) b.disabled = true;
  const answer = await call("POST", `/v1/admin/dead-letters/${encodeURIComponent(id)}/${action}`);
  if (answer.status !== 200) {
    notice(`${action} ${id}: ${answer.status} ${errorsOf(answer.body)}`, "error");
  } else if (answer.body.failed) {
    notice(`${action} ${id}: failed again (${answer.body.failed.cause}); it stays parked.`, "error");
  } else {
    const skipped = answer.body.skipped ? `skipped ${answer.body.skipped}; ` : "";
    notice(`${action} ${id}: ${skipped}${answer.body.applied.length} event(s) applied.`, "ok");
  }
  await refresh();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  const user = { email: form.email.value, password: form.password.value };
  const answer = await call("POST", "/api/users/login", { user });
  if (answer.status !== 200) {
    notice(`Not signed in: ${errorsOf(answer.body) || answer.status}.`, "error");
    return;
  }
  sessionStorage.setItem(TOKEN, answer.body.user.token);
  sessionStorage.setItem(USER, answer.body.user.username);
  form.reset();
  notice("");
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out.", "ok"));
  $("letters").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (button) act(button);
  });
  if (sessionStorage.getItem(TOKEN)) {
    refresh();
  } else {
    show("sign-in");
  }
});
