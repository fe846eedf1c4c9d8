/* The operator page: an operator key → the projects, and one project's rows filtered by state.
   The key stays in this tab (sessionStorage), is sent only as the Authorization header, never in a URL.
   Everything shown comes from the operator API and is put in as text, never as markup. */
(function () {
  "use strict";
  var MF = window.MF;
  var ROW_STATES = ["pending", "queued", "validating", "running", "cancelling", "completed", "completed_with_errors",
    "failed", "cancelled", "undoing", "undone", "undo_failed"];
  var REFRESH_MS = 3000;
  var form = document.getElementById("key-form");
  var keyInput = document.getElementById("operator-key");
  var formError = document.getElementById("form-error");
  var filter = document.getElementById("state-filter");
  var current = { project: null, timer: null };

  ROW_STATES.forEach(function (state) {
    var option = document.createElement("option");
    option.value = state;
    MF.setText(option, "state." + state);
    filter.appendChild(option);
  });

  function api(path) {
    return fetch("/api/v1/operator" + path, { headers: { "Authorization": "Bearer " + keyInput.value },
      credentials: "omit", cache: "no-store" }).then(function (resp) {
      return resp.json().then(function (body) {
        if (!resp.ok) {
          var err = new Error((body.error && body.error.message) || String(resp.status));
          err.status = resp.status;
          throw err;
        }
        return body;
      });
    });
  }

  function cell(tr, text) {
    var td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    tr.appendChild(td);
    return td;
  }

  function stateCell(tr, state) {
    var td = cell(tr, "");
    var badge = document.createElement("span");
    badge.className = "state-pill state-" + state.replace(/[^a-z_]/g, "");
    MF.setText(badge, "state." + state);
    td.appendChild(badge);
  }

  function showError(err) {
    var key = err.status === 401 ? "operator.error.key" : err.status === 403 ? "operator.error.role"
      : err.status === 429 ? "operator.error.rate" : null;
    if (key) { MF.setText(formError, key); } else { formError.textContent = err.message; }
    formError.hidden = false;
  }

  function renderProjects(list) {
    var body = document.querySelector("#projects tbody");
    body.textContent = "";
    list.forEach(function (p) {
      var tr = document.createElement("tr");
      var nameCell = cell(tr, "");
      var open = document.createElement("button");
      open.type = "button";
      open.className = "link";
      open.textContent = p.name;
      open.addEventListener("click", function () { openProject(p.id); });
      nameCell.appendChild(open);
      stateCell(tr, p.state);
      cell(tr, p.totals.rows);
      cell(tr, p.totals.percent + " %");
      cell(tr, p.created_at);
      body.appendChild(tr);
    });
    document.getElementById("no-projects").hidden = list.length > 0;
    document.getElementById("projects-card").hidden = false;
  }

  function renderRows(project, rows) {
    document.getElementById("project-name").textContent = project.name;
    var t = project.totals;
    MF.setText(document.getElementById("project-summary"), "operator.summary",
      { state: MF.t("state." + project.state), done: t.done, total: t.total, ended: t.rows_ended, rows: t.rows });
    var body = document.querySelector("#rows tbody");
    body.textContent = "";
    rows.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      cell(tr, r.row);
      cell(tr, r.source_login);
      cell(tr, r.target_login);
      stateCell(tr, r.state);
      cell(tr, r.done + " / " + r.total);
      cell(tr, r.error);
      body.appendChild(tr);
    });
    MF.setText(document.getElementById("rows-note"), "operator.rows_shown", { shown: rows.rows.length,
      total: rows.total });
    document.getElementById("rows-card").hidden = false;
  }

  function refresh() {
    if (current.timer) { window.clearTimeout(current.timer); }
    var jobs = [api("/projects").then(function (b) { renderProjects(b.projects); })];
    if (current.project) {
      var query = "?limit=1000" + (filter.value ? "&state=" + encodeURIComponent(filter.value) : "");
      jobs.push(Promise.all([api("/projects/" + encodeURIComponent(current.project)),
        api("/projects/" + encodeURIComponent(current.project) + "/rows" + query)])
        .then(function (got) { renderRows(got[0], got[1]); }));
    }
    return Promise.all(jobs).then(function () {
      formError.hidden = true;
      current.timer = window.setTimeout(refresh, REFRESH_MS);
    }, showError);
  }

  function openProject(id) {
    current.project = id;
    refresh().then(function () { document.getElementById("rows-title").focus(); });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    sessionStorage.setItem("mf-operator-key", keyInput.value);
    refresh();
  });
  filter.addEventListener("change", refresh);
  var kept = sessionStorage.getItem("mf-operator-key");
  if (kept) { keyInput.value = kept; refresh(); }
})();
