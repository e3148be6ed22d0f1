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
  not_found: "This screening does not exist or you lack access to it",
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
function humanUser(u) { return u.replaceAll("_", " "); }
function groupName(g) { return CONFIG.groups[g] || g.replaceAll("_", " "); }
function megabytes(n) { return `${(n / (1024 * 1024)).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`; }
function when(iso) { return iso.replace("T", " ").slice(0, 16); }

// Policy reasons name groups and end users by id; show the names a person reads instead.
function humanize(text) {
  let out = text.replace(/group '([\w-]+)'/g, (_, g) => `group “${groupName(g)}”`);
  for (const u of END_USERS) out = out.replaceAll(`End-user type: ${u}.`, `End-user type: ${humanUser(u)}.`);
  return out;
}

function setTitle(text) { document.title = `${text} — SurveilRisk`; }

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || "http_error";
  }
}

function friendly(err, file) {
  if (err.code === "file_too_large" && file) {
    return `File is ${megabytes(file.size)}; the limit is ${megabytes(CONFIG.max_upload_bytes)}.`;
  }
  if (err.code === "unsupported_media_type" && file && /\.pdf$/i.test(file.name)) return "This is not a PDF.";
  if (err.code === "invalid_request" && /evidence\.\d+\.quote/.test(err.message)) {
    return "Each added label needs a quote of at least three characters from the text.";
  }
  const base = FRIENDLY[err.code];
  if (!base) return err.message.charAt(0).toUpperCase() + err.message.slice(1);
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

const TITLES = { signin: "Sign in", analyse: "Analyse a product", history: "Screening history",
                 worklist: "Review worklist", screening: "Screening", admin: "Administration" };

function isReviewer() { return !!state.me && (state.me.role === "reviewer" || state.me.role === "admin"); }
function isAdmin() { return !!state.me && state.me.role === "admin"; }

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${view}`;
  setTitle(TITLES[view] || "SurveilRisk");
  for (const b of document.querySelectorAll(".navlink")) {
    b.hidden = !state.me || (b.dataset.role === "reviewer" && !isReviewer()) || (b.dataset.role === "admin" && !isAdmin());
    if (b.dataset.view === view) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
  document.getElementById("main").focus({ preventScroll: true });
}

// Signing out reloads the page: nothing of the previous user (documents, pasted text, results) survives.
function signOut(message) {
  sessionStorage.clear();
  if (message) sessionStorage.setItem("sr_notice", message);
  state.key = null;
  state.me = null;
  location.replace("/");
}

async function signIn(key) {
  state.key = key;
  const me = await api("/v1/me");
  state.me = me;
  sessionStorage.setItem("sr_key", key);
  restoreDocs();
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
  else if (location.hash === "#worklist" && isReviewer()) openWorklist();
  else if (location.hash === "#admin" && isAdmin()) openAdmin();
  else show("analyse");
}

// ---------------------------------------------------------------- analysing documents

// Analysed documents not yet screened survive a page load (following a permalink, reload) in this tab's
// sessionStorage; sign-out clears it. A file's extracted text stands in for the file after a reload.
function saveDocs() {
  let keep = state.docs.filter((d) => d.result && !d.screened)
    .map((d) => ({ name: d.name, text: d.text || d.result.text, result: d.result }));
  for (;;) {
    try { sessionStorage.setItem("sr_docs", JSON.stringify(keep)); return; }
    catch { keep = keep.slice(1); }  // over the browser's quota: drop the oldest until the rest fits
  }
}

function restoreDocs() {
  if (state.docs.length) return;
  let saved = [];
  try { saved = JSON.parse(sessionStorage.getItem("sr_docs") || "[]"); } catch { saved = []; }
  for (const d of saved) {
    if (!d || !d.result) continue;
    const entry = addDoc({ name: d.name, text: d.text, result: d.result, restored: true });
    setDocState(entry);
  }
  if (state.docs.length) updateProgress();
}

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
    msg.textContent = friendly(entry.error, entry.file);
  } else {
    const r = entry.result;
    msg.className = "msg";
    msg.replaceChildren(tierBadge(r), " ",
      el("button", { type: "button", onclick: () => showResult(entry, true) }, "View"));
  }
}

function updateProgress() {
  const total = state.docs.length;
  const done = state.docs.filter((d) => d.result || d.error).length;
  const ok = state.docs.filter((d) => d.result).length;
  const failed = state.docs.filter((d) => d.error).length;
  const box = document.getElementById("progress");
  box.replaceChildren(
    el("div", { text: done < total ? `Analysing ${done} of ${total} documents…`
                                   : `${ok} analysed, ${failed} failed.` }),
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
  if (entry.result) saveDocs();
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
    // Overlapping evidence: one stripe per label, so every label's colour stays visible.
    const step = 100 / uniq.length;
    const bg = uniq.length === 1 ? colour[uniq[0]]
      : `linear-gradient(${uniq.map((l, j) => `${colour[l]} ${j * step}% ${(j + 1) * step}%`).join(", ")})`;
    const mark = el("mark", { class: "ev", "data-labels": uniq.join(" "), "data-start": a, "data-end": b,
                              title: uniq.map(labelName).join(", "), style: `background:${bg}` }, piece);
    box.append(mark);
  }
  return { box, colour };
}

const cursor = {};  // label → index of the evidence mark shown last, for next/previous

function jumpTo(labelId, prefix, step = 0) {
  const marks = [...document.querySelectorAll(`#${prefix}doctext mark.ev`)].filter((m) =>
    m.dataset.labels.split(" ").includes(labelId));
  if (!marks.length) return;
  const key = prefix + labelId;
  cursor[key] = step === 0 ? 0 : ((cursor[key] || 0) + step + marks.length) % marks.length;
  document.querySelectorAll("mark.flash").forEach((m) => m.classList.remove("flash"));
  marks.forEach((m) => m.classList.add("flash"));
  marks[cursor[key]].scrollIntoView({ block: "center", behavior: "smooth" });
}

// The whole sentence(s) around an evidence span, so a quote never stops mid-word.
function sentenceAround(text, start, end) {
  let a = start, b = end;
  while (a > 0 && !/[.!?\n]/.test(text[a - 1]) && start - a < 300) a--;
  while (b < text.length && !/[.!?\n]/.test(text[b - 1] || "") && b - end < 300) b++;
  return text.slice(a, b).trim();
}

// PDFs: the page a quote is on, so a reviewer can find it in the original.
function pageRef(ev) {
  return ev.page ? el("span", { class: "page-ref", text: ` (p. ${ev.page})` }) : null;
}

function labelList(title, labels, colour, prefix, text) {
  if (!labels.length) return el("div", {}, el("h3", { text: title }), el("p", { class: "muted", text: "None found." }));
  return el("div", {}, el("h3", { text: title }), el("ul", { class: "labels" }, labels.map((l) =>
    el("li", {}, el("a", { href: `#ev-${l.id}`, "data-label": l.id,
                           onclick: (e) => { e.preventDefault(); jumpTo(l.id, prefix); } },
      el("span", { class: "lname" },
         el("span", {}, el("span", { class: "swatch", style: `background:${colour[l.id]}`, "aria-hidden": "true" }),
            labelName(l.id)),
         el("span", { class: "score", text: pct(l.score) })),
      el("span", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${pct(l.score)}` })),
      l.evidence.length ? el("span", { class: "muted quote-text" },
                             `“${sentenceAround(text, l.evidence[0].start, l.evidence[0].end)}”`,
                             pageRef(l.evidence[0]))
        : null),
      l.evidence.length > 1 ? el("span", { class: "evnav" },
        el("button", { type: "button", "aria-label": `Previous evidence for ${labelName(l.id)}`,
                       onclick: () => jumpTo(l.id, prefix, -1) }, "‹ previous"),
        el("button", { type: "button", "aria-label": `Next evidence for ${labelName(l.id)}`,
                       onclick: () => jumpTo(l.id, prefix, 1) }, "next ›"),
        el("span", { class: "muted", text: ` ${l.evidence.length} passages` })) : null))));
}

// A reading that needs a person never shows a reassuring tier colour.
function tierBadge(result, big = false, prefix = "", inForce = null) {
  const cls = `badge${big ? " big" : ""}`;
  if (inForce && inForce.source === "review") {
    return el("span", { class: `${cls} t-${inForce.tier}`, id: big ? `${prefix}tier-badge` : null,
                        text: inForce.tier, title: "tier set by a reviewer" });
  }
  if (result.review_required) {
    return el("span", { class: `${cls} t-review`, id: big ? `${prefix}tier-badge` : null,
                        text: "needs human review", title: `model tier: ${result.tier}` });
  }
  return el("span", { class: `${cls} t-${result.tier}`, id: big ? `${prefix}tier-badge` : null, text: result.tier });
}

function tierProbabilities(result, prefix) {
  const order = TAX.tiers.map((t) => t.id);
  return el("ul", { class: "tierprobs", id: `${prefix}tier-probs`, "aria-label": "Tier probabilities" },
    order.filter((t) => t in result.tier_scores).map((t) =>
      el("li", { class: t === result.tier ? "likeliest" : null }, `${t} ${pct(result.tier_scores[t])}`)));
}

function reviewReasons(reasons, id) {
  return el("div", { class: "needs-review", id, role: "note" },
    el("strong", { text: "Needs human review: " }),
    el("ul", {}, reasons.map((r) => el("li", { text: r.message }))));
}

// `prefix` keeps element ids unique: "" on the analyse view, "s-" on a stored screening.
function resultView(result, text, prefix = "", inForce = null) {
  const all = [...result.capabilities, ...result.risk_factors];
  const { box, colour } = highlightedText(text, all, prefix);
  const warnings = result.warnings.length
    ? el("ul", { class: "warnings", "aria-label": "Warnings" }, result.warnings.map((w) => el("li", { text: w })))
    : null;
  const reviewed = inForce && inForce.source === "review";
  return el("div", {},
    el("div", { class: "card tierline" },
      el("div", { class: "badgebox" }, tierBadge(result, true, prefix, inForce), tierProbabilities(result, prefix)),
      el("div", { class: "reason" }, el("h2", { class: "source", id: `${prefix}result-title`, tabindex: "-1",
                                                text: result.source }),
         el("span", { id: `${prefix}tier-reason`, text: result.tier_reason }),
         reviewed && inForce.tier !== result.tier
           ? el("p", { class: "muted", text: `The model read tier ${result.tier}; a reviewer set ${inForce.tier}.` })
           : null),
      el("span", { class: "muted", text: `model ${result.model_version}` })),
    result.review_required && !reviewed ? reviewReasons(result.review_reasons, `${prefix}review-reasons`) : null,
    warnings,
    el("div", { class: "result-grid" },
      el("div", { class: "card" }, labelList("Capabilities", result.capabilities, colour, prefix, text),
         labelList("Risk factors", result.risk_factors, colour, prefix, text)),
      el("div", { class: "card" }, el("h3", { text: "Extracted text with evidence" }), box)));
}

function showResult(entry, focus = false) {
  state.current = entry;
  for (const d of state.docs) if (d.li) d.li.classList.toggle("selected", d === entry);
  for (const d of state.docs) if (d.li) d.li.setAttribute("aria-current", d === entry ? "true" : "false");
  const box = document.getElementById("result");
  box.hidden = false;
  box.replaceChildren(resultView(entry.result, entry.result.text), screeningForm(entry));
  if (focus) {
    const title = document.getElementById("result-title");
    title.focus({ preventScroll: true });
    title.scrollIntoView({ block: "start" });
  }
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
    el("label", { for: "s-control-list", text: "Control-list entry checked (optional)" }),
    el("input", { id: "s-control-list", type: "text", placeholder: "e.g. EU Annex I 5A001.j, ECCN 5A980, or none" }),
    el("label", { for: "s-licence", text: "Licence reference (optional)" }),
    el("input", { id: "s-licence", type: "text" }),
    el("label", { for: "s-party", text: "Party screening (sanctions lists)" }),
    el("select", { id: "s-party" }, el("option", { value: "", text: "not recorded" }),
       el("option", { value: "done", text: "done, no hit" }), el("option", { value: "hit", text: "done, hit found" }),
       el("option", { value: "not_done", text: "not done yet" })),
    el("label", { for: "s-party-by", text: "Party screening by (optional)" }),
    el("input", { id: "s-party-by", type: "text" }),
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
    const fields = [["end_user_name", "#s-end-user-name"], ["reference", "#s-reference"],
                    ["control_list_entry", "#s-control-list"], ["licence_reference", "#s-licence"],
                    ["party_screening", "#s-party"], ["party_screening_by", "#s-party-by"]];
    if (!form.querySelector("#s-party").value && form.querySelector("#s-party-by").value.trim()) {
      err.textContent = "Choose the party-screening outcome, or leave 'by' empty.";
      return;
    }
    for (const [field, id] of fields) {
      const v = form.querySelector(id).value.trim();
      if (v) fd.append(field, v);
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const s = await api("/v1/screenings", { method: "POST", body: fd });
      entry.screened = s.id;
      saveDocs();
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

// The decision in force leads; the model's original decision follows, marked superseded once replaced.
function decisionView(s, prefix = "") {
  const f = s.decision_in_force;
  const m = s.model_decision;
  const by = f.source === "policy"
    ? "Decided by the screening policy on the model's reading"
    : `${f.source === "review" ? "Reviewed" : "Re-screened"} by ${f.decided_by.name} on ${when(f.decided_at)} UTC`;
  return el("div", { class: "decision card", id: `${prefix}decision-card` },
    el("div", { class: "badgebox" },
      el("span", { class: "muted small", text: "Decision in force" }),
      el("span", { class: `badge big a-${f.action}`, id: `${prefix}action-badge`, text: humanAction(f.action) })),
    el("div", { class: "decision-body" },
      el("p", { id: `${prefix}decided-by` }, el("strong", { text: by })),
      f.review_required ? reviewReasons(f.review_reasons, `${prefix}decision-review-reasons`) : null,
      el("ul", { id: `${prefix}decision-reasons` }, f.reasons.map((r) => el("li", { text: humanize(r) }))),
      m.superseded ? el("p", { class: "superseded", id: `${prefix}model-decision` },
        `Original decision: ${humanAction(m.action)} (tier ${m.tier}) — superseded.`) : null,
      el("p", {}, "Stored as ", el("code", { id: `${prefix}screening-id`, text: s.id }), " — ",
         el("a", { href: s.permalink, id: `${prefix}permalink`, text: "permalink" }),
         ` · destination group: ${groupName(s.destination.group)} · policy ${m.policy_version} · model ${s.model_version}`)));
}

// ---------------------------------------------------------------- history

const FILTERS = [["q", "#f-q"], ["action", "#f-action"], ["tier", "#f-tier"], ["end_user_type", "#f-end-user"],
                 ["reviewed", "#f-reviewed"], ["review_required", "#f-flagged"]];

function filterParams() {
  const params = new URLSearchParams();
  for (const [k, id] of FILTERS) {
    const v = document.querySelector(id).value.trim();
    if (v) params.set(k, v);
  }
  const from = document.getElementById("f-from").value;
  const to = document.getElementById("f-to").value;
  if (from) params.set("created_from", `${from}T00:00:00Z`);
  if (to) {  // the "to" day is included
    const next = new Date(`${to}T00:00:00Z`);
    next.setUTCDate(next.getUTCDate() + 1);
    params.set("created_to", next.toISOString().slice(0, 19) + "Z");
  }
  return params;
}

const STATUS_TEXT = { open: "not reviewed", in_review: "in review", decided: "reviewed" };

function actionCell(s) {
  return el("td", { "data-label": "Decision in force" },
    el("span", { class: `badge a-${s.action}`, text: humanAction(s.action) }),
    s.review_required ? el("span", { class: "flag", text: "needs human review" }) : null,
    s.decision_source !== "policy" && s.model_action !== s.action
      ? el("span", { class: "muted small was", text: `was ${humanAction(s.model_action)}` }) : null);
}

async function openHistory(page) {
  if (page) state.historyPage = page;
  show("history");
  history.replaceState(null, "", "/#history");
  const params = filterParams();
  params.set("page", state.historyPage);
  params.set("page_size", 15);
  const rows = document.getElementById("history-rows");
  try {
    const data = await api(`/v1/screenings?${params}`);
    rows.replaceChildren(...data.items.map((s) => {
      const link = el("a", { href: `/screenings/${s.id}`, text: s.filename || s.id,
                             onclick: (e) => { e.preventDefault(); openScreening(s.id, true); } });
      return el("tr", { "data-id": s.id, class: s.review_required ? "flagged" : null,
                        onclick: (e) => { if (e.target !== link) openScreening(s.id, true); } },
        el("td", { "data-label": "Date", text: when(s.created_at) }), el("td", { "data-label": "Document" }, link),
        el("td", { "data-label": "Reference", text: s.reference || "" }),
        el("td", { "data-label": "Destination", text: s.destination }),
        el("td", { "data-label": "End user", text: humanUser(s.end_user_type) + (s.end_user_name ? ` · ${s.end_user_name}` : "") }),
        actionCell(s),
        el("td", { "data-label": "Tier" }, el("span", { class: `badge t-${s.tier}`, text: s.tier })),
        el("td", { "data-label": "Review", text: STATUS_TEXT[s.review_status] }),
        el("td", { "data-label": "Decided by", text: s.decided_by || "policy" }),
        el("td", { "data-label": "Screened by", text: s.created_by.name }));
    }));
    const filtered = [...filterParams().keys()].length > 0;
    if (!data.items.length) {
      rows.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: "10", id: "history-empty",
        text: filtered ? "No screenings match these filters." : "No screenings yet." })));
    }
    const pages = Math.max(1, Math.ceil(data.total / data.page_size));
    document.getElementById("page-info").textContent = `Page ${data.page} of ${pages} · ${data.total} screenings`;
    document.getElementById("prev-page").disabled = data.page <= 1;
    document.getElementById("next-page").disabled = data.page >= pages;
  } catch (err) {
    rows.replaceChildren(el("tr", {}, el("td", { colspan: "10", class: "error", text: friendly(err) })));
  }
}

async function downloadCsv() {
  const resp = await api(`/v1/screenings/export.csv?${filterParams()}`, { raw: true });
  saveBlob(await resp.blob(), "screenings.csv");
}

// ---------------------------------------------------------------- worklist (reviewers)

async function openWorklist() {
  show("worklist");
  history.replaceState(null, "", "/#worklist");
  const rows = document.getElementById("worklist-rows");
  const err = document.getElementById("worklist-error");
  err.textContent = "";
  try {
    const data = await api("/v1/worklist?page_size=50");
    const c = data.counts;
    document.getElementById("worklist-counts").textContent =
      `${c.open} open · ${c.in_review} in review · ${c.decided} decided`;
    rows.replaceChildren(...data.items.map((item) => {
      const s = item.screening;
      const mine = item.claim && item.claim.reviewer_key_id === state.me.key_id;
      const claimBtn = item.claim && !mine ? el("span", { class: "muted", text: `${item.claim.reviewer_name} is on it` })
        : el("button", { type: "button", class: "claim", onclick: async (e) => {
            e.stopPropagation();
            try {
              await api(`/v1/worklist/${s.id}/claim`, { method: "POST" });
              openScreening(s.id, true);
            } catch (ex) { err.textContent = friendly(ex); openWorklist(); }
          } }, mine ? "Continue" : "Claim and review");
      return el("tr", { "data-id": s.id, class: s.review_required ? "flagged" : null },
        el("td", { "data-label": "Priority" }, el("strong", { text: item.priority.toFixed(2) }),
           el("span", { class: "muted small", text: ` (severity ${item.severity} × ${item.uncertainty.toFixed(2)})` })),
        el("td", { "data-label": "Document", text: s.filename || s.reference || s.id }),
        el("td", { "data-label": "Destination", text: s.destination }),
        el("td", { "data-label": "End user", text: humanUser(s.end_user_type) }),
        actionCell(s),
        el("td", { "data-label": "Why" }, el("ul", { class: "why" }, item.why.map((w) => el("li", { text: w })))),
        el("td", { "data-label": "Status", text: item.claim ? `in review (${item.claim.reviewer_name})` : "open" }),
        el("td", {}, claimBtn));
    }));
    if (!data.items.length) {
      rows.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: "8", text: "Nothing waits for review." })));
    }
  } catch (ex) {
    err.textContent = friendly(ex);
  }
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
    setTitle(`Screening ${s.reference || s.id}`);
    const party = s.party_screening
      ? `${s.party_screening.outcome.replace("_", " ")}${s.party_screening.by ? ` by ${s.party_screening.by}` : ""}`
      : "not recorded";
    const meta = el("div", { class: "card" },
      el("p", {}, `Screened ${s.created_at.replace("T", " ").slice(0, 19)} UTC by ${s.created_by.name} · `,
         `destination ${s.destination.name} (${s.destination.code}) · `,
         `end user ${humanUser(s.end_user_type)}${s.end_user_name ? ` (${s.end_user_name})` : ""}`,
         s.reference ? ` · reference ${s.reference}` : ""),
      el("p", { class: "muted" }, `Control-list entry: ${s.control_list_entry || "—"} · licence: `,
         `${s.licence_reference || "—"} · party screening: ${party} · review: ${STATUS_TEXT[s.review_status]}`,
         s.claim ? ` (${s.claim.reviewer_name})` : ""),
      el("div", { class: "actions-row" },
        el("button", { type: "button", id: "print-report", onclick: () => openReport(s.id) }, "Printable report"),
        el("button", { type: "button", onclick: () => openHistory() }, "Back to history")));
    const reviews = el("div", { class: "card" }, el("h2", { text: "Decision records" }),
      s.reviews.length ? el("ul", { id: "review-list" }, s.reviews.map((r) => el("li", {},
        el("strong", { text: r.kind === "rescreen" ? "Re-screened" : r.verdict === "confirm" ? "Confirmed" : "Corrected" }),
        ` by ${r.reviewer.name} on ${when(r.created_at)}: tier ${r.tier}, action ${humanAction(r.action)}; `,
        `labels ${[...r.capabilities, ...r.risk_factors].map(labelName).join(", ") || "none"}. “${r.comment}”`,
        r.action_reason ? ` Why the action changed: ${r.action_reason}` : "")))
        : el("p", { class: "muted", id: "review-list", text: "Not reviewed yet." }));
    const parts = [meta, decisionView(s, "s-"),
                   resultView(s.classification, s.document.text || "", "s-", s.decision_in_force), reviews];
    if (isReviewer()) parts.push(reviewForm(s));
    body.replaceChildren(...parts);
  } catch (err) {
    body.replaceChildren(el("p", { class: "error", role: "alert", id: "screening-error", text: friendly(err) }));
  }
}

function reviewForm(s) {
  const f = s.decision_in_force;
  if (CONFIG.four_eyes && s.created_by.key_id === state.me.key_id) {
    return el("div", { class: "card", id: "four-eyes" }, el("h2", { text: "Review" }),
      el("p", { class: "notice", text: "You created this screening, so someone else must review it (four-eyes rule)." }));
  }
  const modelLabels = new Set([...s.classification.capabilities, ...s.classification.risk_factors].map((d) => d.id));
  const inForceLabels = new Set([...f.capabilities, ...f.risk_factors]);
  const supported = new Set([...modelLabels, ...s.reviews.flatMap((r) => r.evidence.map((e) => e.label))]);
  const checks = (items) => el("div", { class: "checks" }, items.map((l) => {
    const box = el("input", { type: "checkbox", id: `rv-${l.id}`, value: l.id, checked: inForceLabels.has(l.id) });
    const quote = el("input", { type: "text", class: "quote", id: `rv-q-${l.id}`, hidden: true,
                                "aria-label": `Quote from the text showing ${l.name}`,
                                placeholder: "quote from the text showing this" });
    box.addEventListener("change", () => { quote.hidden = !(box.checked && !supported.has(l.id)); });
    return el("div", {}, el("label", { for: `rv-${l.id}` }, box, " ", l.name), quote);
  }));
  const select = (id, values, current) => el("select", { id }, values.map((v) =>
    el("option", { value: v, selected: v === current, text: v.replaceAll("_", " ") })));
  const who = f.source === "policy" ? "the original decision" : `${f.decided_by.name}'s decision`;
  const form = el("form", { class: "card review-form", id: "review-form" },
    el("h2", { text: "Review" }),
    el("fieldset", {}, el("legend", { text: "Verdict" }),
      el("label", {}, el("input", { type: "radio", name: "verdict", value: "confirm", checked: true }),
         ` Confirm the decision in force (${humanAction(f.action)}, tier ${f.tier}: ${who})`),
      el("label", {}, el("input", { type: "radio", name: "verdict", value: "correct" }), " Correct it")),
    el("fieldset", { id: "corrections", disabled: true }, el("legend", { text: "Corrections (start from the decision in force)" }),
      el("h3", { text: "Capabilities" }), checks(TAX.capabilities),
      el("h3", { text: "Risk factors" }), checks(TAX.risk_factors),
      el("label", { for: "rv-tier", text: "Tier" }), select("rv-tier", TAX.tiers.map((t) => t.id), f.tier),
      el("label", { for: "rv-action", text: "Action" }), select("rv-action", CONFIG.actions, f.action),
      el("div", { id: "rv-action-reason-box", hidden: true },
        el("label", { for: "rv-action-reason", text: "Why does the action change?" }),
        el("textarea", { id: "rv-action-reason", rows: "2" })),
      el("div", { id: "rv-diff", class: "diff", "aria-live": "polite" })),
    el("label", { for: "rv-comment", text: "Comment" }),
    el("textarea", { id: "rv-comment", rows: "3", required: true }),
    el("button", { type: "submit", class: "primary", text: "Submit review" }),
    el("p", { id: "review-error", class: "error", role: "alert" }),
    el("p", { id: "review-ok", class: "ok", "aria-live": "polite" }));
  const picked = (items) => items.map((l) => l.id).filter((id) => form.querySelector(`#rv-${id}`).checked);
  const verdict = () => form.querySelector("input[name=verdict]:checked").value;
  const refresh = () => {
    const correcting = verdict() === "correct";
    form.querySelector("#corrections").disabled = !correcting;
    const labels = [...picked(TAX.capabilities), ...picked(TAX.risk_factors)];
    const added = labels.filter((l) => !inForceLabels.has(l));
    const removed = [...inForceLabels].filter((l) => !labels.includes(l));
    const tier = form.querySelector("#rv-tier").value;
    const action = form.querySelector("#rv-action").value;
    form.querySelector("#rv-action-reason-box").hidden = !(correcting && action !== f.action);
    const lines = [];
    if (added.length) lines.push(`adds ${added.map(labelName).join(", ")}`);
    if (removed.length) lines.push(`removes ${removed.map(labelName).join(", ")}`);
    if (tier !== f.tier) lines.push(`tier ${f.tier} → ${tier}`);
    if (action !== f.action) lines.push(`action ${humanAction(f.action)} → ${humanAction(action)}`);
    form.querySelector("#rv-diff").textContent = !correcting ? ""
      : lines.length ? `Compared with the decision in force, this ${lines.join("; ")}.` : "No change yet.";
  };
  form.addEventListener("change", refresh);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const errBox = form.querySelector("#review-error");
    errBox.textContent = "";
    const payload = { verdict: verdict(), comment: form.querySelector("#rv-comment").value.trim(),
                      based_on: f.record_id || s.id };
    if (payload.verdict === "correct") {
      payload.capabilities = picked(TAX.capabilities);
      payload.risk_factors = picked(TAX.risk_factors);
      payload.tier = form.querySelector("#rv-tier").value;
      payload.action = form.querySelector("#rv-action").value;
      if (payload.action !== f.action) {
        payload.action_reason = form.querySelector("#rv-action-reason").value.trim();
        if (!payload.action_reason) {
          errBox.textContent = `Say why the action changes from ${humanAction(f.action)} to ${humanAction(payload.action)}.`;
          return;
        }
      }
      const needQuote = [...payload.capabilities, ...payload.risk_factors].filter((id) => !supported.has(id));
      for (const id of needQuote) {
        if (form.querySelector(`#rv-q-${id}`).value.trim().length < 3) {
          errBox.textContent = `Add a quote from the text for ${labelName(id)}.`;
          return;
        }
      }
      payload.evidence = needQuote.map((id) => ({ label: id, quote: form.querySelector(`#rv-q-${id}`).value.trim() }));
    }
    if (!payload.comment) { errBox.textContent = "Add a comment saying what you checked."; return; }
    try {
      const rec = await api(`/v1/screenings/${s.id}/reviews`, { method: "POST", body: JSON.stringify(payload),
                                                              headers: { "Content-Type": "application/json" } });
      await openScreening(s.id, false);
      const ok = document.getElementById("review-ok");
      if (ok) ok.textContent = rec.message;
      document.getElementById("s-decision-card").scrollIntoView({ block: "start" });
    } catch (err) {
      errBox.textContent = friendly(err);
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
      else if (b.dataset.view === "worklist") openWorklist();
      else if (b.dataset.view === "admin") openAdmin();
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
  document.getElementById("f-end-user").append(...END_USERS.map((u) => el("option", { value: u, text: humanUser(u) })));
  const notice = sessionStorage.getItem("sr_notice");
  if (notice) { sessionStorage.removeItem("sr_notice"); document.getElementById("signin-error").textContent = notice; }
  if (state.key) signIn(state.key).catch(() => signOut("Your session ended; sign in again."));
  else show("signin");
});
