// Administration view: the re-screening impact dry run. Uses the helpers of app.js (loaded first).
"use strict";

let lastRescreen = null;  // the request body of the last dry run, for the CSV download

function openAdmin() {
  show("admin");
  history.replaceState(null, "", "/#admin");
}

function rescreenBody() {
  const body = { model: document.getElementById("rs-model").value };
  const policy = document.getElementById("rs-policy").value;
  const since = document.getElementById("rs-since").value;
  if (policy.trim()) body.policy_yaml = policy;
  if (since) body.since = since;
  return body;
}

function flipRow(f) {
  const labels = [...f.labels_added.map((l) => `+ ${labelName(l)}`), ...f.labels_removed.map((l) => `− ${labelName(l)}`)];
  const link = el("a", { href: `/screenings/${f.screening_id}`, text: f.document || f.reference || f.screening_id,
                         onclick: (e) => { e.preventDefault(); openScreening(f.screening_id, true); } });
  return el("tr", { "data-id": f.screening_id, class: f.applies ? null : "kept" },
    el("td", { "data-label": "Screening" }, link, f.reference ? el("span", { class: "muted small", text: ` ${f.reference}` }) : null),
    el("td", { "data-label": "Date", text: when(f.created_at) }),
    el("td", { "data-label": "Destination", text: f.destination }),
    el("td", { "data-label": "End user", text: humanUser(f.end_user_type) }),
    el("td", { "data-label": "Decision", class: "flip" },
      el("span", { class: `badge a-${f.action_before}`, text: humanAction(f.action_before) }), " → ",
      el("span", { class: `badge a-${f.action_after}`, text: humanAction(f.action_after) })),
    el("td", { "data-label": "Tier", text: `${f.tier_before} → ${f.tier_after}` }),
    el("td", { "data-label": "Labels", text: labels.join(", ") || "no change" }),
    el("td", { "data-label": "On applying",
               text: f.applies ? "would be re-decided" : `kept: reviewed by ${f.decided_by}` }));
}

async function runRescreen(e) {
  e.preventDefault();
  const form = e.target;
  const err = document.getElementById("rescreen-error");
  const summary = document.getElementById("rescreen-summary");
  const table = document.getElementById("rescreen-table");
  const button = form.querySelector("button[type=submit]");
  err.textContent = "";
  summary.textContent = "Replaying stored screenings…";
  table.hidden = true;
  button.disabled = true;
  const body = rescreenBody();
  try {
    const report = await api("/v1/rescreen", { method: "POST", body: JSON.stringify(body),
                                               headers: { "Content-Type": "application/json" } });
    lastRescreen = body;
    document.getElementById("rs-csv").disabled = false;
    summary.textContent = `${report.flips.length} of ${report.scanned} decisions would flip ` +
      `(model ${report.model_version}, policy ${report.policy_version}). Dry run: nothing was changed.`;
    document.getElementById("rescreen-rows").replaceChildren(...report.flips.map(flipRow));
    table.hidden = report.flips.length === 0;
  } catch (ex) {
    summary.textContent = "";
    err.textContent = friendly(ex);
  } finally {
    button.disabled = false;
  }
}

async function downloadRescreenCsv() {
  if (!lastRescreen) return;
  const resp = await api("/v1/rescreen?format=csv", { method: "POST", body: JSON.stringify(lastRescreen), raw: true,
                                                       headers: { "Content-Type": "application/json" } });
  saveBlob(await resp.blob(), "rescreen.csv");
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("rescreen-form").addEventListener("submit", runRescreen);
  document.getElementById("rs-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (file) document.getElementById("rs-policy").value = await file.text();
  });
  document.getElementById("rs-csv").addEventListener("click", () =>
    downloadRescreenCsv().catch((ex) => { document.getElementById("rescreen-error").textContent = friendly(ex); }));
});
