// SurveilRisk web page. Plain JavaScript on top of the JSON API; the API key stays in sessionStorage.
"use strict";

const TAX = JSON.parse(document.getElementById("taxonomy-data").textContent);
const CONFIG = JSON.parse(document.getElementById("config-data").textContent);
const LABEL_NAMES = Object.fromEntries([...TAX.capabilities, ...TAX.risk_factors].map((l) => [l.id, l.name]));
const END_USERS = CONFIG.end_user_types;
const PALETTE = ["#ffe58a", "#b9e3ff", "#c9f2c7", "#ffd1dc", "#e4d4ff", "#ffdcb8", "#d3f4f0"];
const FRIENDLY = {
  file_too_large: "This file is too large",
  too_many_pages: "This document has too many pages",
  unsupported_media_type: "This file type is not supported. Use PDF, DOCX, HTML or TXT",
  no_text_found: "No text was found in this file (is it a scanned image? Run OCR first)",
  empty_document: "The document is empty",
  unreadable_document: "The file could not be read; it may be damaged",
  encrypted_document: "The PDF is password-protected; upload an unlocked copy",
  extraction_timeout: "Reading this file took too long",
  unauthorized: "Your API key was not accepted; sign in again",
  forbidden: "Your role does not allow this",
};

const state = { key: sessionStorage.getItem("sr_key"), me: null, docs: [], historyPage: 1, current: null };

// ---------------------------------------------------------------- helpers

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function labelName(id) { return LABEL_NAMES[id] || id; }
function pct(x) { return `${Math.round(x * 100)}%`; }
function humanAction(a) { return a.replaceAll("_", " "); }

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "http_error";
  }
}

function friendly(err) {
  const base = FRIENDLY[err.code];
  if (!base) return err.message;
  return err.code === "file_too_large" || err.code === "too_many_pages" ? `${base}: ${err.message}` : `${base}.`;
}

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${state.key}` }, options.headers || {});
  const resp = await fetch(path, Object.assign({}, options, { headers }));
  if (options.raw) {
    if (!resp.ok) throw new ApiError(resp.status, await resp.json().catch(() => null));
    return resp;
  }
  const body = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    if (resp.status === 401 && path !== "/v1/me") signOut("Your session ended; sign in again.");
    throw new ApiError(resp.status, body);
  }
  return body;
}

// ---------------------------------------------------------------- views and sign-in

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${view}`;
  for (const b of document.querySelectorAll(".navlink")) {
    b.hidden = !state.me;
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  document.getElementById("main").focus({ preventScroll: true });
}

function signOut(message) {
  sessionStorage.removeItem("sr_key");
  state.key = null;
  state.me = null;
  document.getElementById("who").replaceChildren();
  document.getElementById("signin-error").textContent = message || "";
  show("signin");
}

async function signIn(key) {
  state.key = key;
  const me = await api("/v1/me");
  state.me = me;
  sessionStorage.setItem("sr_key", key);
  document.getElementById("who").replaceChildren(
    el("span", { text: `${me.name} · ` }),
    el("strong", { id: "role", text: me.role }),
    el("button", { type: "button", onclick: () => signOut() }, "Sign out"),
  );
  route();
}

function route() {
  const m = location.pathname.match(/^\/screenings\/([\w-]+)$/);
  if (m) openScreening(m[1], false);
  else if (location.hash === "#history") openHistory();
  else show("analyse");
}

// ---------------------------------------------------------------- analysing documents

function addDoc(entry) {
  state.docs.push(entry);
  const li = el("li", { "data-name": entry.name },
    el("span", { class: "status", "aria-hidden": "true" }, el("span", { class: "spinner" })),
    el("span", { class: "name", text: entry.name }),
    el("span", { class: "msg muted", text: "extracting and classifying…" }));
  entry.li = li;
  document.getElementById("doc-list").append(li);
  return entry;
}

function setDocState(entry) {
  const li = entry.li;
  const msg = li.querySelector(".msg");
  li.querySelector(".status").replaceChildren();
  if (entry.error) {
    li.classList.add("failed");
    msg.className = "msg error";
    msg.setAttribute("role", "alert");
    msg.textContent = friendly(entry.error);
  } else {
    const r = entry.result;
    msg.className = "msg";
    msg.replaceChildren(el("span", { class: `badge t-${r.tier}`, text: r.tier }), " ",
      el("button", { type: "button", onclick: () => showResult(entry) }, "View"));
  }
}

function updateProgress() {
  const total = state.docs.length;
  const done = state.docs.filter((d) => d.result || d.error).length;
  const box = document.getElementById("progress");
  box.replaceChildren(
    el("div", { text: done < total ? `Analysing ${done} of ${total} documents…` : `${total} document(s) analysed.` }),
    el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total),
                "aria-valuenow": String(done), "aria-label": "Analysis progress" },
       el("span", { style: `width:${total ? (100 * done) / total : 0}%` })),
  );
}

async function analyse(entry) {
  try {
    let body;
    if (entry.file) {
      const fd = new FormData();
      fd.append("file", entry.file, entry.file.name);
      body = fd;
    }
    const opts = entry.file
      ? { method: "POST", body }
      : { method: "POST", body: JSON.stringify({ text: entry.text, title: entry.name }),
          headers: { "Content-Type": "application/json" } };
    entry.result = await api("/v1/classify?include_text=true", opts);
  } catch (err) {
    entry.error = err;
  }
  setDocState(entry);
  updateProgress();
  if (entry.result && !state.current) showResult(entry);
}

async function analyseFiles(files) {
  const entries = [...files].map((f) => addDoc({ name: f.name, file: f }));
  updateProgress();
  // two at a time: enough to keep the server busy without queueing everything at once
  const queue = [...entries];
  const worker = async () => { while (queue.length) await analyse(queue.shift()); };
  await Promise.all([worker(), worker()]);
}

// ---------------------------------------------------------------- result view

function highlightedText(text, labels, prefix) {
  // Cut the text at every evidence boundary; each piece remembers which labels cover it.
  const spans = [];
  labels.forEach((lab) => lab.evidence.forEach((ev) => spans.push({ ...ev, label: lab.id })));
  const cuts = new Set([0, text.length]);
  spans.forEach((s) => { cuts.add(s.start); cuts.add(s.end); });
  const points = [...cuts].sort((a, b) => a - b);
  const colour = Object.fromEntries(labels.map((l, i) => [l.id, PALETTE[i % PALETTE.length]]));
  const box = el("div", { class: "doctext", id: `${prefix}doctext`, tabindex: "0", "aria-label": "Extracted text" });
  for (let i = 0; i < points.length - 1; i++) {
    const a = points[i], b = points[i + 1];
    const piece = text.slice(a, b);
    const covering = spans.filter((s) => s.start <= a && b <= s.end).map((s) => s.label);
    if (!covering.length) { box.append(piece); continue; }
    const uniq = [...new Set(covering)];
    const mark = el("mark", { class: "ev", "data-labels": uniq.join(" "), "data-start": a, "data-end": b,
                              title: uniq.map(labelName).join(", "), style: `background:${colour[uniq[0]]}` }, piece);
    box.append(mark);
  }
  return { box, colour };
}

function jumpTo(labelId, prefix) {
  const marks = [...document.querySelectorAll(`#${prefix}doctext mark.ev`)].filter((m) =>
    m.dataset.labels.split(" ").includes(labelId));
  if (!marks.length) return;
  document.querySelectorAll("mark.flash").forEach((m) => m.classList.remove("flash"));
  marks.forEach((m) => m.classList.add("flash"));
  marks[0].scrollIntoView({ block: "center", behavior: "smooth" });
}

function labelList(title, labels, colour, prefix) {
  if (!labels.length) return el("div", {}, el("h3", { text: title }), el("p", { class: "muted", text: "None found." }));
  return el("div", {}, el("h3", { text: title }), el("ul", { class: "labels" }, labels.map((l) =>
    el("li", {}, el("a", { href: `#ev-${l.id}`, "data-label": l.id,
                           onclick: (e) => { e.preventDefault(); jumpTo(l.id, prefix); } },
      el("span", { class: "lname" },
         el("span", {}, el("span", { class: "swatch", style: `background:${colour[l.id]}`, "aria-hidden": "true" }),
            labelName(l.id)),
         el("span", { class: "score", text: pct(l.score) })),
      el("span", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${pct(l.score)}` })),
      l.evidence.length ? el("span", { class: "muted", text: `“${l.evidence[0].text.slice(0, 110)}”` }) : null)))));
}

// `prefix` keeps element ids unique: "" on the analyse view, "s-" on a stored screening.
function resultView(result, text, prefix = "") {
  const all = [...result.capabilities, ...result.risk_factors];
  const { box, colour } = highlightedText(text, all, prefix);
  const warnings = result.warnings.length
    ? el("ul", { class: "warnings", "aria-label": "Warnings" }, result.warnings.map((w) => el("li", { text: w })))
    : null;
  return el("div", {},
    el("div", { class: "card tierline" },
      el("span", { class: `badge big t-${result.tier}`, id: `${prefix}tier-badge`, text: result.tier }),
      el("div", { class: "reason" }, el("strong", { text: result.source }), el("br"),
         el("span", { id: `${prefix}tier-reason`, text: result.tier_reason })),
      el("span", { class: "muted", text: `model ${result.model_version}` })),
    warnings,
    el("div", { class: "result-grid" },
      el("div", { class: "card" }, labelList("Capabilities", result.capabilities, colour, prefix),
         labelList("Risk factors", result.risk_factors, colour, prefix)),
      el("div", { class: "card" }, el("h3", { text: "Extracted text with evidence" }), box)));
}

function showResult(entry) {
  state.current = entry;
  const box = document.getElementById("result");
  box.hidden = false;
  box.replaceChildren(resultView(entry.result, entry.result.text), screeningForm(entry));
}

// ---------------------------------------------------------------- screening

function screeningForm(entry) {
  const form = el("form", { class: "card", id: "screening-form" },
    el("h2", { text: "Screen an export of this product" }),
    el("label", { for: "s-destination", text: "Destination country" }),
    el("input", { id: "s-destination", list: "countries", required: true, autocomplete: "off",
                  placeholder: "type a country name or code, e.g. Brazil or BR" }),
    el("label", { for: "s-end-user", text: "End-user type" }),
    el("select", { id: "s-end-user", required: true },
       el("option", { value: "", text: "choose…" }), END_USERS.map((u) => el("option", { value: u, text: u.replaceAll("_", " ") }))),
    el("label", { for: "s-end-user-name", text: "End-user name (optional)" }),
    el("input", { id: "s-end-user-name", type: "text" }),
    el("label", { for: "s-reference", text: "Your reference (optional)" }),
    el("input", { id: "s-reference", type: "text" }),
    el("button", { type: "submit", class: "primary", text: "Screen and store" }),
    el("p", { id: "screening-error", class: "error", role: "alert" }),
    el("div", { id: "decision", "aria-live": "polite" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = form.querySelector("#screening-error");
    err.textContent = "";
    const code = countryCode(form.querySelector("#s-destination").value);
    if (!code) { err.textContent = "Choose a destination from the list (a country name or its two-letter code)."; return; }
    const fd = new FormData();
    if (entry.file) fd.append("file", entry.file, entry.file.name);
    else { fd.append("text", entry.text); fd.append("title", entry.name); }
    fd.append("destination", code);
    fd.append("end_user_type", form.querySelector("#s-end-user").value);
    for (const [field, id] of [["end_user_name", "#s-end-user-name"], ["reference", "#s-reference"]]) {
      const v = form.querySelector(id).value.trim();
      if (v) fd.append(field, v);
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const s = await api("/v1/screenings", { method: "POST", body: fd });
      form.querySelector("#decision").replaceChildren(decisionView(s));
    } catch (ex) {
      err.textContent = friendly(ex);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function countryCode(value) {
  const v = value.trim();
  if (/^[A-Za-z]{2}$/.test(v) && CONFIG.countries[v.toUpperCase()]) return v.toUpperCase();
  const m = v.match(/\(([A-Z]{2})\)$/);
  if (m) return m[1];
  const hit = Object.entries(CONFIG.countries).find(([, name]) => name.toLowerCase() === v.toLowerCase());
  return hit ? hit[0] : null;
}

function decisionView(s, prefix = "") {
  return el("div", { class: "decision card", id: `${prefix}decision-card` },
    el("span", { class: `badge big a-${s.decision.action}`, id: `${prefix}action-badge`,
                 text: humanAction(s.decision.action) }),
    el("div", {},
      el("ul", {}, s.decision.reasons.map((r) => el("li", { text: r }))),
      el("p", {}, "Stored as ", el("code", { id: `${prefix}screening-id`, text: s.id }), " — ",
         el("a", { href: s.permalink, id: `${prefix}permalink`, text: "permalink" }),
         ` · policy ${s.decision.policy_version} · model ${s.model_version}`)));
}

// ---------------------------------------------------------------- history

async function openHistory(page) {
  if (page) state.historyPage = page;
  show("history");
  history.replaceState(null, "", "/#history");
  const params = new URLSearchParams({ page: state.historyPage, page_size: 15 });
  for (const [k, id] of [["action", "#f-action"], ["tier", "#f-tier"], ["reference", "#f-reference"]]) {
    const v = document.querySelector(id).value.trim();
    if (v) params.set(k, v);
  }
  const rows = document.getElementById("history-rows");
  try {
    const data = await api(`/v1/screenings?${params}`);
    rows.replaceChildren(...data.items.map((s) => {
      const link = el("a", { href: `/screenings/${s.id}`, text: s.filename || s.id,
                             onclick: (e) => { e.preventDefault(); openScreening(s.id, true); } });
      return el("tr", { "data-id": s.id, onclick: (e) => { if (e.target !== link) openScreening(s.id, true); } },
        el("td", { text: s.created_at.replace("T", " ").slice(0, 16) }), el("td", {}, link),
        el("td", { text: s.reference || "" }), el("td", { text: s.destination }),
        el("td", { text: s.end_user_type.replaceAll("_", " ") }),
        el("td", {}, el("span", { class: `badge t-${s.tier}`, text: s.tier })),
        el("td", {}, el("span", { class: `badge a-${s.action}`, text: humanAction(s.action) })),
        el("td", { text: s.reviewed ? "yes" : "" }), el("td", { text: s.created_by.name }));
    }));
    if (!data.items.length) rows.replaceChildren(el("tr", {}, el("td", { colspan: "9", text: "No screenings yet." })));
    const pages = Math.max(1, Math.ceil(data.total / data.page_size));
    document.getElementById("page-info").textContent = `Page ${data.page} of ${pages} · ${data.total} screenings`;
    document.getElementById("prev-page").disabled = data.page <= 1;
    document.getElementById("next-page").disabled = data.page >= pages;
  } catch (err) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: "9", class: "error", text: friendly(err) })));
  }
}

async function downloadCsv() {
  const params = new URLSearchParams();
  for (const [k, id] of [["action", "#f-action"], ["tier", "#f-tier"], ["reference", "#f-reference"]]) {
    const v = document.querySelector(id).value.trim();
    if (v) params.set(k, v);
  }
  const resp = await api(`/v1/screenings/export.csv?${params}`, { raw: true });
  saveBlob(await resp.blob(), "screenings.csv");
}

function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------------------------------------------------------------- one screening, review, report

async function openScreening(id, push) {
  show("screening");
  if (push) history.pushState(null, "", `/screenings/${id}`);
  const body = document.getElementById("screening-body");
  body.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
  try {
    const s = await api(`/v1/screenings/${encodeURIComponent(id)}`);
    document.getElementById("screening-title").textContent = `Screening ${s.id}`;
    const meta = el("div", { class: "card" },
      el("p", {}, `Decided ${s.created_at.replace("T", " ").slice(0, 19)} UTC by ${s.created_by.name} · `,
         `destination ${s.destination.name} (${s.destination.code}, group ${s.destination.group}) · `,
         `end user ${s.end_user_type.replaceAll("_", " ")}${s.end_user_name ? ` (${s.end_user_name})` : ""}`,
         s.reference ? ` · reference ${s.reference}` : ""),
      el("div", { class: "actions-row" },
        el("button", { type: "button", id: "print-report", onclick: () => openReport(s.id) }, "Printable report"),
        el("button", { type: "button", onclick: () => openHistory() }, "Back to history")));
    const reviews = el("div", { class: "card" }, el("h2", { text: "Reviews" }),
      s.reviews.length ? el("ul", { id: "review-list" }, s.reviews.map((r) => el("li", {},
        el("strong", { text: r.verdict === "confirm" ? "Confirmed" : "Corrected" }),
        ` by ${r.reviewer.name} on ${r.created_at.slice(0, 16).replace("T", " ")}: tier ${r.tier}, action `,
        `${humanAction(r.action)}; capabilities ${r.capabilities.map(labelName).join(", ") || "none"}. “${r.comment}”`)))
        : el("p", { class: "muted", id: "review-list", text: "Not reviewed yet." }));
    const parts = [meta, decisionView(s, "s-"), resultView(s.classification, s.document.text || "", "s-"), reviews];
    if (state.me && (state.me.role === "reviewer" || state.me.role === "admin")) parts.push(reviewForm(s));
    body.replaceChildren(...parts);
  } catch (err) {
    body.replaceChildren(el("p", { class: "error", role: "alert", text: friendly(err) }));
  }
}

function reviewForm(s) {
  const modelLabels = new Set([...s.classification.capabilities, ...s.classification.risk_factors].map((d) => d.id));
  const checks = (items) => el("div", { class: "checks" }, items.map((l) => {
    const box = el("input", { type: "checkbox", id: `rv-${l.id}`, value: l.id, checked: modelLabels.has(l.id) });
    const quote = el("input", { type: "text", class: "quote", id: `rv-q-${l.id}`, hidden: true,
                                "aria-label": `Quote from the text showing ${l.name}`,
                                placeholder: "quote from the text showing this" });
    box.addEventListener("change", () => { quote.hidden = !(box.checked && !modelLabels.has(l.id)); });
    return el("div", {}, el("label", { for: `rv-${l.id}` }, box, " ", l.name), quote);
  }));
  const select = (id, values, current) => el("select", { id }, values.map((v) =>
    el("option", { value: v, selected: v === current, text: v.replaceAll("_", " ") })));
  const form = el("form", { class: "card review-form", id: "review-form" },
    el("h2", { text: "Review" }),
    el("fieldset", {}, el("legend", { text: "Verdict" }),
      el("label", {}, el("input", { type: "radio", name: "verdict", value: "confirm", checked: true }), " Confirm as decided"),
      el("label", {}, el("input", { type: "radio", name: "verdict", value: "correct" }), " Correct it")),
    el("fieldset", { id: "corrections", disabled: true }, el("legend", { text: "Corrections" }),
      el("h3", { text: "Capabilities" }), checks(TAX.capabilities),
      el("h3", { text: "Risk factors" }), checks(TAX.risk_factors),
      el("label", { for: "rv-tier", text: "Tier" }), select("rv-tier", TAX.tiers.map((t) => t.id), s.classification.tier),
      el("label", { for: "rv-action", text: "Action" }), select("rv-action", CONFIG.actions, s.decision.action)),
    el("label", { for: "rv-comment", text: "Comment" }),
    el("textarea", { id: "rv-comment", rows: "3", required: true }),
    el("button", { type: "submit", class: "primary", text: "Submit review" }),
    el("p", { id: "review-error", class: "error", role: "alert" }),
    el("p", { id: "review-ok", class: "ok", "aria-live": "polite" }));
  form.addEventListener("change", () => {
    form.querySelector("#corrections").disabled = form.querySelector("input[name=verdict]:checked").value !== "correct";
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const verdict = form.querySelector("input[name=verdict]:checked").value;
    const payload = { verdict, comment: form.querySelector("#rv-comment").value.trim() };
    if (verdict === "correct") {
      const picked = (items) => items.map((l) => l.id).filter((id) => form.querySelector(`#rv-${id}`).checked);
      payload.capabilities = picked(TAX.capabilities);
      payload.risk_factors = picked(TAX.risk_factors);
      payload.tier = form.querySelector("#rv-tier").value;
      payload.action = form.querySelector("#rv-action").value;
      payload.evidence = [...payload.capabilities, ...payload.risk_factors].filter((id) => !modelLabels.has(id))
        .map((id) => ({ label: id, quote: form.querySelector(`#rv-q-${id}`).value }));
    }
    try {
      await api(`/v1/screenings/${s.id}/reviews`, { method: "POST", body: JSON.stringify(payload),
                                                  headers: { "Content-Type": "application/json" } });
      await openScreening(s.id, false);
      document.getElementById("review-list").scrollIntoView({ block: "center" });
    } catch (err) {
      form.querySelector("#review-error").textContent = friendly(err);
    }
  });
  return form;
}

async function openReport(id) {
  const resp = await api(`/v1/screenings/${encodeURIComponent(id)}/report`, { raw: true });
  const url = URL.createObjectURL(await resp.blob());
  window.open(url, "_blank", "noopener");
}

// ---------------------------------------------------------------- wiring

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("signin-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const err = document.getElementById("signin-error");
    err.textContent = "";
    try { await signIn(document.getElementById("api-key").value.trim()); }
    catch (ex) { err.textContent = ex.status === 401 ? "This API key was not accepted." : friendly(ex); }
  });
  for (const b of document.querySelectorAll(".navlink")) {
    b.addEventListener("click", () => {
      if (b.dataset.view === "history") openHistory(1);
      else { history.pushState(null, "", "/"); show("analyse"); }
    });
  }
  const drop = document.getElementById("dropzone");
  const input = document.getElementById("file-input");
  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); analyseFiles(e.dataTransfer.files); });
  input.addEventListener("change", () => { analyseFiles(input.files); input.value = ""; });
  document.getElementById("upload-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = document.getElementById("paste-text").value;
    if (!text.trim()) return;
    const name = document.getElementById("paste-title").value.trim() || "pasted text";
    const entry = addDoc({ name, text });
    updateProgress();
    await analyse(entry);
    if (entry.result) showResult(entry);
  });
  document.getElementById("history-filter").addEventListener("submit", (e) => { e.preventDefault(); openHistory(1); });
  document.getElementById("prev-page").addEventListener("click", () => openHistory(state.historyPage - 1));
  document.getElementById("next-page").addEventListener("click", () => openHistory(state.historyPage + 1));
  document.getElementById("export-csv").addEventListener("click", () => downloadCsv().catch((err) => alert(friendly(err))));
  window.addEventListener("popstate", () => { if (state.me) route(); });
  if (state.key) signIn(state.key).catch(() => signOut());
  else show("signin");
});
