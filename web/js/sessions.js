// Running an infusion session from the tablet (docs/sessions.md): open a session, watch the
// baseline and the BP gate, start (with a nurse's override reason when the gate refuses), the
// sitter's quick notes, end the infusion, the discharge check and the nurse's signature, and the
// history of past sessions with their trends and reports.
//
// Every action that needs a nurse asks for the nurse's user name and PIN unless a nurse is
// signed in; the discharge signature always asks for the PIN. The service's answer is shown in
// its own words; nothing here decides a clinical rule (the service does).

import { api } from "../shared/api.js";
import { el, setText } from "../shared/dom.js";
import { PHASES, clockTime, parseTime } from "../shared/format.js";
import { state } from "./state.js";
import { Trends } from "./trends.js";

const $ = (id) => document.getElementById(id);
const API = "/api/v1/sessions";
const POLL_MS = 10_000; // baseline preview and discharge check change with each cuff reading

export const NOTE_LABELS = {
  nausea: "Nausea",
  anxiety: "Anxiety",
  antiemetic_given: "Antiemetic given",
  asleep: "Asleep",
  dissociation: "Dissociation",
  other: "Note…",
};

let hooks = null; // {toast(text, kind), signedOutCheck()}
let details = null; // GET /sessions/current (null: none or not loaded)
let pollTimer = null;
let dialog = null; // {submit, fields}

function isNurse() {
  const u = state.user;
  return Boolean(u) && (u.role === "nurse" || u.role === "admin");
}

// -- the current session's details -------------------------------------------------------------

export async function refreshDetails() {
  const s = state.infusion;
  if (!s || !state.user) {
    details = null;
    renderSessionPanel();
    return;
  }
  try {
    const d = await api("GET", `${API}/current`);
    details = d;
  } catch (err) {
    if (err.status === 404) details = null;
    else if (err.status === 401) hooks.signedOutCheck();
  }
  renderSessionPanel();
}

/** The live `infusion` message or a snapshot changed the open session. */
export function sessionChanged() {
  if (!state.infusion) {
    details = null;
  }
  refreshDetails();
}

function schedulePoll() {
  clearInterval(pollTimer);
  pollTimer = setInterval(() => {
    if (state.user && state.infusion && !dialog) refreshDetails();
  }, POLL_MS);
}

// -- the panel ---------------------------------------------------------------------------------

function button(text, cls, onClick, id) {
  const b = el("button", `btn ${cls || ""}`.trim(), text);
  b.type = "button";
  if (id) b.id = id;
  b.addEventListener("click", onClick);
  return b;
}

function gateText(d) {
  const preview = d.baseline_preview;
  const need = "two cuff readings at rest";
  if (!preview) return `Baseline: waiting for ${need}`;
  const hr = preview.hr === null || preview.hr === undefined ? "" : `, HR ${Math.round(preview.hr)}`;
  return `Baseline ${Math.round(preview.sys)}/${Math.round(preview.dia)}${hr} (${preview.readings} readings)`;
}

function renderDetail(box, s, d) {
  box.replaceChildren();
  if (!d || d.id !== s.id) return;
  if (s.phase === "baseline") {
    box.append(el("div", "sd-line", gateText(d)));
    const gate = d.gate || { ok: false, reasons: [] };
    const line = el("div", `sd-line gate ${gate.ok ? "gate-ok" : "gate-refused"}`,
      gate.ok ? "BP gate: passed" : `BP gate: ${gate.reasons.join("; ")}`);
    line.id = "gate-status";
    box.append(line);
  } else if (s.phase === "recovery" && d.discharge_check) {
    const check = d.discharge_check;
    const head = el("div", `sd-line ${check.ready ? "gate-ok" : "gate-refused"}`,
      check.ready ? "Ready for discharge" : "Not ready for discharge");
    head.id = "discharge-ready";
    box.append(head);
    const list = el("ul", "criteria");
    list.id = "discharge-criteria";
    for (const c of check.criteria) {
      const item = el("li", c.ok ? "ok" : "not-ok", `${c.ok ? "✓" : "✗"} ${c.detail}`);
      item.dataset.criterion = c.name;
      list.append(item);
    }
    box.append(list);
  }
  if (s.baseline && s.phase !== "baseline") {
    const b = s.baseline;
    const hr = b.hr === null || b.hr === undefined ? "" : `, HR ${Math.round(b.hr)}`;
    box.append(el("div", "sd-line muted", `Baseline ${Math.round(b.sys)}/${Math.round(b.dia)}${hr}`));
  }
}

function renderNotes(box, d) {
  box.replaceChildren();
  const notes = (d && d.notes) || [];
  for (const n of notes.slice(-3).reverse()) {
    const text = n.kind === "other" ? n.text : NOTE_LABELS[n.kind] + (n.text ? `: ${n.text}` : "");
    box.append(el("li", "", `${clockTime(parseTime(n.at))} ${text} (${n.user})`));
  }
}

export function renderSessionPanel() {
  const s = state.infusion;
  const actions = $("infusion-actions");
  const noteBox = $("infusion-notes");
  const detail = $("infusion-detail");
  if (!actions) return;
  const phase = s ? s.phase : "none";
  if (actions.dataset.phase !== phase || actions.dataset.nurse !== String(isNurse())) {
    actions.dataset.phase = phase;
    actions.dataset.nurse = String(isNurse());
    actions.replaceChildren();
    if (!s) actions.append(button("New session", "btn-primary", openCreate, "session-new"));
    if (phase === "baseline") {
      actions.append(button("Start infusion", "btn-primary", () => openStart(), "session-start"));
      actions.append(button("Close without infusion", "", openCancel, "session-cancel"));
    }
    if (phase === "infusion") actions.append(button("End infusion", "btn-primary", openEnd, "session-end"));
    if (phase === "recovery") {
      actions.append(button("Discharge…", "btn-primary", openDischarge, "session-discharge"));
    }
    if (s) actions.append(button("Report", "", () => openReport(s.id), "session-report"));
    actions.append(button("History", "", openHistory, "history-open"));
  }
  $("infusion-notebar").hidden = !s;
  renderDetail(detail, s, details);
  renderNotes(noteBox, details && s && details.id === s.id ? details : null);
}

// -- the dialog --------------------------------------------------------------------------------

function field({ name, label, type = "text", value = "", attrs = {} }) {
  const wrap = el("div", "sd-field");
  const id = `sd-${name}`;
  const lab = el("label", "", label);
  lab.htmlFor = id;
  const input = type === "textarea" ? el("textarea") : el("input");
  if (type !== "textarea") input.type = type;
  input.id = id;
  input.name = name;
  input.value = value;
  for (const [k, v] of Object.entries(attrs)) input.setAttribute(k, v);
  wrap.append(lab, input);
  return wrap;
}

function nurseFields(always) {
  if (isNurse() && !always) return [];
  const who = isNurse() ? state.user.username : "";
  return [
    field({ name: "nurse-user", label: "Nurse user name", value: who,
      attrs: { autocapitalize: "none", autocorrect: "off", spellcheck: "false", autocomplete: "off" } }),
    field({ name: "nurse-pin", label: "Nurse PIN", type: "password",
      attrs: { inputmode: "numeric", autocomplete: "off" } }),
  ];
}

function value(name) {
  const input = $(`sd-${name}`);
  return input ? input.value.trim() : "";
}

function proof(always) {
  if (isNurse() && !always) return {};
  const username = value("nurse-user");
  const pin = $("sd-nurse-pin") ? $("sd-nurse-pin").value : "";
  if (!username || !pin) throw new Error("Enter the nurse's user name and PIN.");
  return { username, pin };
}

export function closeDialog() {
  if (!dialog) return;
  dialog = null;
  $("sd-body").replaceChildren(); // PINs are never kept on screen
  setText($("sd-error"), "");
  $("session-dialog").hidden = true;
}

function openDialog({ title, intro, fields, submitText, submit, onInput }) {
  closeDialog();
  dialog = { submit, onInput };
  setText($("sd-title"), title);
  const body = $("sd-body");
  if (intro) {
    const p = el("div", "sd-intro");
    p.id = "sd-intro";
    if (intro instanceof Node) p.append(intro);
    else p.textContent = intro;
    body.append(p);
  }
  for (const f of fields) body.append(f);
  setText($("sd-submit"), submitText);
  $("sd-submit").disabled = false;
  $("session-dialog").hidden = false;
  const first = body.querySelector("input, textarea");
  if (first) first.focus();
  if (onInput) onInput();
}

function showError(text) {
  setText($("sd-error"), text);
}

async function submitDialog(event) {
  event.preventDefault();
  if (!dialog) return;
  const mine = dialog;
  showError("");
  $("sd-submit").disabled = true;
  try {
    await mine.submit();
    if (dialog === mine) closeDialog();
  } catch (err) {
    if (dialog !== mine) return;
    if (err.status === 401 && !$("sd-nurse-pin")) hooks.signedOutCheck();
    showError(err.detail || err.message || String(err));
    if ($("sd-nurse-pin")) $("sd-nurse-pin").value = "";
  } finally {
    $("sd-submit").disabled = false;
  }
}

/** The API refused with {message, gate|check}: the message is the service's own words. */
function refusal(err) {
  const d = err.detail;
  if (d && typeof d === "object" && d.message) return d.message;
  return typeof d === "string" ? d : String(err.message || err);
}

async function call(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (err) {
    const e = new Error(refusal(err));
    e.status = err.status;
    e.raw = err.detail;
    throw e;
  }
}

// -- actions -----------------------------------------------------------------------------------

const NUM = { type: "number", attrs: { inputmode: "decimal", step: "any", min: "0" } };

function planPreview() {
  const kg = Number(value("weight_kg"));
  const mgkg = Number(value("dose_mg_per_kg"));
  const conc = Number(value("concentration_mg_ml"));
  const min = Number(value("duration_min"));
  const box = $("sd-plan");
  if (!box) return;
  if (!(kg > 0 && mgkg > 0 && conc > 0 && min > 0)) {
    setText(box, "Dose, volume and rate appear when weight, dose, concentration and duration are filled in.");
    return;
  }
  const mg = kg * mgkg;
  const ml = mg / conc;
  const rate = ml / (min / 60);
  setText(box, `${mg.toFixed(1)} mg = ${ml.toFixed(1)} mL over ${min} min → pump rate ${rate.toFixed(1)} mL/h`);
}

function openCreate() {
  const plan = el("div", "sd-plan");
  plan.id = "sd-plan";
  openDialog({
    title: "New infusion session",
    fields: [
      field({ name: "patient", label: "Patient code (pseudonym)",
        attrs: { autocapitalize: "characters", autocomplete: "off", spellcheck: "false", pattern: "[A-Za-z0-9_.\\-]+" } }),
      field({ name: "name", label: "Name (optional, shown to staff only)", attrs: { autocomplete: "off" } }),
      field({ name: "drug", label: "Drug", value: "ketamine" }),
      field({ name: "weight_kg", label: "Weight (kg)", ...NUM }),
      field({ name: "dose_mg_per_kg", label: "Dose (mg/kg)", ...NUM }),
      field({ name: "concentration_mg_ml", label: "Concentration (mg/mL)", ...NUM }),
      field({ name: "duration_min", label: "Planned duration (min)", value: "40", ...NUM }),
      plan,
      ...nurseFields(false),
    ],
    submitText: "Open session",
    onInput: planPreview,
    submit: async () => {
      const body = {
        patient: value("patient"),
        drug: value("drug") || "ketamine",
        weight_kg: Number(value("weight_kg")),
        dose_mg_per_kg: Number(value("dose_mg_per_kg")),
        concentration_mg_ml: Number(value("concentration_mg_ml")),
        duration_min: Number(value("duration_min")),
        ...proof(false),
      };
      if (value("name")) body.name = value("name");
      if (!body.patient) throw new Error("Enter the patient's code.");
      for (const k of ["weight_kg", "dose_mg_per_kg", "concentration_mg_ml", "duration_min"]) {
        if (!(body[k] > 0)) throw new Error("Weight, dose, concentration and duration must be numbers above 0.");
      }
      const record = await call("POST", API, body);
      hooks.toast(`Session opened for ${record.patient}: baseline readings next`);
      sessionChanged();
    },
  });
}

function overrideField(label) {
  return field({ name: "reason", label, type: "textarea", attrs: { rows: "2", maxlength: "500" } });
}

function openStart(refused = null) {
  const s = state.infusion;
  if (!s) return;
  const gate = details && details.id === s.id ? details.gate : null;
  const needsReason = Boolean(refused) || (gate && !gate.ok);
  const reasons = refused || (gate && !gate.ok ? gate.reasons : []);
  const intro = needsReason
    ? `BP gate refuses the start: ${reasons.join("; ")}. A nurse may start anyway with a reason.`
    : `${details ? gateText(details) : "Baseline"} — BP gate passed. Pump rate ${s.expected_rate_ml_h} mL/h.`;
  openDialog({
    title: "Start infusion",
    intro,
    fields: [...(needsReason ? [overrideField("Override reason (required)")] : []), ...nurseFields(false)],
    submitText: needsReason ? "Start anyway" : "Start infusion",
    submit: async () => {
      const body = { ...proof(false) };
      if (needsReason) {
        const reason = value("reason");
        if (reason.length < 3) throw new Error("Give the reason for starting above the gate.");
        body.override_reason = reason;
      }
      try {
        await call("POST", `${API}/${s.id}/start`, body);
      } catch (err) {
        // The gate refused (the baseline changed since the panel was drawn): ask for a reason.
        if (err.status === 409 && err.raw && err.raw.gate && !needsReason) {
          const reasons2 = err.raw.gate.reasons;
          setTimeout(() => openStart(reasons2), 0);
          return;
        }
        throw err;
      }
      hooks.toast("Infusion started");
      sessionChanged();
    },
  });
}

function openEnd() {
  const s = state.infusion;
  if (!s) return;
  openDialog({
    title: "End infusion",
    intro: "Monitoring continues through recovery until the discharge is signed.",
    fields: nurseFields(false),
    submitText: "End infusion",
    submit: async () => {
      await call("POST", `${API}/${s.id}/end-infusion`, proof(false));
      hooks.toast("Infusion ended: recovery");
      sessionChanged();
    },
  });
}

function dischargeDialog({ title, intro, needsReason, submitText }) {
  const s = state.infusion;
  openDialog({
    title,
    intro,
    fields: [...(needsReason ? [overrideField("Reason (required)")] : []), ...nurseFields(true)],
    submitText,
    submit: async () => {
      const body = proof(true);
      if (needsReason) {
        const reason = value("reason");
        if (reason.length < 3) throw new Error("Give the reason.");
        body.override_reason = reason;
      }
      const record = await call("POST", `${API}/${s.id}/discharge`, body);
      hooks.toast(`Discharge signed by ${record.discharged_by}`);
      const id = s.id;
      sessionChanged();
      openReport(id);
    },
  });
}

async function openDischarge() {
  const s = state.infusion;
  if (!s) return;
  let check = null;
  try {
    check = await api("GET", `${API}/${s.id}/discharge-check`);
  } catch (err) {
    hooks.toast(err.detail, "error");
    return;
  }
  const list = el("ul", "criteria");
  for (const c of check.criteria) list.append(el("li", c.ok ? "ok" : "not-ok", `${c.ok ? "✓" : "✗"} ${c.detail}`));
  const intro = el("div");
  intro.append(el("div", check.ready ? "gate-ok" : "gate-refused",
    check.ready ? "Ready for discharge." : "Not ready for discharge: discharging now needs a reason."), list);
  dischargeDialog({
    title: "Sign discharge",
    intro,
    needsReason: !check.ready,
    submitText: check.ready ? "Sign discharge" : "Discharge anyway",
  });
}

function openCancel() {
  dischargeDialog({
    title: "Close session without infusion",
    intro: "The patient does not go ahead today. The session is closed and kept in the history.",
    needsReason: true,
    submitText: "Close session",
  });
}

function openNote(kind) {
  const s = state.infusion;
  if (!s) return;
  const save = async (text) => {
    await call("POST", `${API}/${s.id}/notes`, { kind, text });
    hooks.toast(`Noted: ${kind === "other" ? text : NOTE_LABELS[kind]}`);
    refreshDetails();
  };
  if (kind !== "other") {
    save("").catch((err) => hooks.toast(err.message, "error"));
    return;
  }
  openDialog({
    title: "Note",
    fields: [field({ name: "text", label: "What happened", type: "textarea", attrs: { rows: "3", maxlength: "2000" } })],
    submitText: "Save note",
    submit: async () => {
      const text = value("text");
      if (!text) throw new Error("Write the note first.");
      await save(text);
    },
  });
}

// -- history and reports ------------------------------------------------------------------------

let historyTrends = null;

function openReport(id) {
  // The printable page opens in its own tab with the tablet's sign-in (same origin).
  window.open(`${API}/${id}/report.html`, "_blank", "noopener");
}

async function openHistory() {
  document.body.dataset.page = "history";
  $("history").hidden = false;
  $("history-detail").hidden = true;
  $("history-list-box").hidden = false;
  const body = $("history-rows");
  body.replaceChildren(el("tr", "", ""));
  let rows = [];
  try {
    rows = await api("GET", `${API}?limit=200`);
  } catch (err) {
    hooks.toast(err.detail, "error");
    return;
  }
  body.replaceChildren();
  if (!rows.length) body.append(el("tr", "muted", "No sessions yet"));
  for (const r of rows) {
    const tr = el("tr");
    tr.dataset.session = r.id;
    const when = new Date(parseTime(r.created_at));
    tr.append(
      el("td", "", `${when.toLocaleDateString()} ${clockTime(when.getTime())}`),
      el("td", "", r.patient),
      el("td", "", `${r.dose_mg_per_kg} mg/kg`),
      el("td", "", PHASES[r.phase] || r.phase),
      el("td", "", r.discharged_by || "—"),
    );
    const cell = el("td");
    cell.append(button("Open", "", () => openSession(r.id)));
    tr.append(cell);
    body.append(tr);
  }
}

function definition(list, term, text) {
  list.append(el("dt", "", term), el("dd", "", text));
}

async function openSession(id) {
  let d;
  let trend;
  try {
    [d, trend] = await Promise.all([api("GET", `${API}/${id}`), api("GET", `${API}/${id}/trends`)]);
  } catch (err) {
    hooks.toast(err.detail, "error");
    return;
  }
  $("history-list-box").hidden = true;
  $("history-detail").hidden = false;
  $("history-detail").dataset.session = id;
  setText($("hd-title"), `Session ${d.id} · ${d.patient}${d.patient_name ? ` (${d.patient_name})` : ""} · ${PHASES[d.phase] || d.phase}`);
  const facts = $("hd-facts");
  facts.replaceChildren();
  const s = d.summary;
  const b = s.baseline;
  definition(facts, "Dose", `${d.drug} ${d.dose_mg_per_kg} mg/kg × ${d.weight_kg} kg = ${s.planned_dose_mg} mg, ${s.planned_volume_ml} mL at ${s.expected_rate_ml_h} mL/h`);
  definition(facts, "Delivered", s.volume_delivered_ml === null ? "—" : `${s.volume_delivered_ml} mL, ${s.dose_delivered_mg} mg`);
  definition(facts, "Baseline", b ? `${Math.round(b.sys)}/${Math.round(b.dia)}${b.hr ? `, HR ${Math.round(b.hr)}` : ""}` : "—");
  for (const [label, p] of Object.entries(s.peaks || {})) {
    definition(facts, `Peak ${label}`, `${Math.round(p.value)} at ${clockTime(parseTime(p.at))}`);
  }
  definition(facts, "Started", d.started_at ? `${clockTime(parseTime(d.started_at))} by ${d.started_by}` : "—");
  definition(facts, "Discharged", d.discharged_at ? `${clockTime(parseTime(d.discharged_at))} by ${d.discharged_by}` : "—");
  if (d.gate_override) definition(facts, "Gate override", `${d.gate_override.by}: ${d.gate_override.reason}`);
  if (d.discharge_override_reason) definition(facts, "Discharge override", d.discharge_override_reason);

  const alarms = $("hd-alarms");
  alarms.replaceChildren();
  for (const a of d.alarms) {
    const resp = a.response_s === null ? "no response" : `${Math.round(a.response_s)} s by ${a.acknowledged_by}`;
    alarms.append(el("li", `prio-${a.priority}`, `${clockTime(parseTime(a.raised_at))} ${a.priority.toUpperCase()} ${a.message} — ${resp}`));
  }
  if (!d.alarms.length) alarms.append(el("li", "muted", "No alarms"));
  const notes = $("hd-notes");
  notes.replaceChildren();
  for (const n of d.notes) {
    const text = n.kind === "other" ? n.text : NOTE_LABELS[n.kind] + (n.text ? `: ${n.text}` : "");
    notes.append(el("li", "", `${clockTime(parseTime(n.at))} ${text} (${n.user})`));
  }
  if (!d.notes.length) notes.append(el("li", "muted", "No notes"));

  for (const [key, path] of [["pdf", "report.pdf"], ["csv", "readings.csv"], ["fhir", "fhir"], ["html", "report.html"]]) {
    $(`hd-${key}`).href = `${API}/${id}/${path}`;
  }
  if (!historyTrends) historyTrends = new Trends($("hd-trends"), { live: false });
  historyTrends.setLimits(state.limits);
  historyTrends.setBaseline(b ? { sys: b.sys, dia: b.dia, hr: b.hr } : null);
  historyTrends.showWindow(trend, parseTime(trend.since) / 1000, parseTime(trend.until) / 1000);
}

export function closeHistory() {
  document.body.dataset.page = "bed";
  $("history").hidden = true;
}

// -- wiring ------------------------------------------------------------------------------------

export function initSessions(h) {
  hooks = h;
  $("session-form").addEventListener("submit", submitDialog);
  $("sd-cancel").addEventListener("click", closeDialog);
  $("session-dialog").addEventListener("input", () => dialog && dialog.onInput && dialog.onInput());
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (dialog) closeDialog();
    else if (!$("history").hidden) closeHistory();
  });
  for (const [kind, label] of Object.entries(NOTE_LABELS)) {
    const b = button(label, "btn-note", () => openNote(kind));
    b.dataset.note = kind;
    $("note-buttons").append(b);
  }
  $("history-close").addEventListener("click", closeHistory);
  $("history-back").addEventListener("click", openHistory);
  schedulePoll();
}

/** Signed out: nothing of the last user's session stays on screen. */
export function resetSessions() {
  closeDialog();
  closeHistory();
  details = null;
}
