/* Follow a migration: ID + source login → state, progress per item type, errors, cancel, undo.
   Refreshes every 2 s until a final state. The login stays in this script, never in the URL. */
(function () {
  "use strict";
  var MF = window.MF;
  var FINAL = ["completed", "completed_with_errors", "failed", "cancelled", "undone", "undo_failed"];
  var CANCELLABLE = ["queued", "validating", "running"];
  var UNDOABLE = ["cancelled", "completed", "completed_with_errors", "failed", "undo_failed"];
  var ITEM_ORDER = ["emails", "folders", "contacts", "contact_groups", "calendars", "tasks", "rules", "auto_reply"];
  var REFRESH_MS = 2000;

  var lookupForm = document.getElementById("lookup-form");
  var midInput = document.getElementById("mid");
  var loginInput = document.getElementById("login");
  var view = document.getElementById("status-view");
  var formError = document.getElementById("form-error");
  var actionStatus = document.getElementById("action-status");
  var undoForm = document.getElementById("undo-form");

  var current = { id: null, login: null, status: null, timer: null, fetchedAt: null, generation: 0,
    actionFrom: null };

  var fromUrl = new URLSearchParams(window.location.search).get("id");
  if (fromUrl) {
    midInput.value = fromUrl;
    loginInput.focus();
  }

  function isFinal(state) { return FINAL.indexOf(state) >= 0; }

  function stopTimer() {
    if (current.timer) { window.clearTimeout(current.timer); current.timer = null; }
  }

  function schedule() {
    stopTimer();
    if (current.status && isFinal(current.status.state)) { return; }
    current.timer = window.setTimeout(load, REFRESH_MS);
  }

  function load() {
    var generation = current.generation;
    var url = "/api/v1/migrations/" + encodeURIComponent(current.id) + "?login=" + encodeURIComponent(current.login);
    return MF.api("GET", url).then(function (result) {
      if (generation !== current.generation) { return; } // another lookup started meanwhile
      if (result.ok && result.data) {
        current.status = result.data;
        current.fetchedAt = new Date().toISOString();
        render();
        schedule();
        return;
      }
      if (!current.status || result.status === 404) {
        showLookupError(result);
        return;
      }
      MF.setText(document.getElementById("refresh-note"), "refresh.failed");
      schedule();
    });
  }

  function showLookupError(result) {
    stopTimer();
    view.hidden = true;
    current.status = null;
    MF.renderError(formError, MF.describeError(result));
    formError.focus();
  }

  lookupForm.addEventListener("submit", function (event) {
    event.preventDefault();
    MF.clearErrors(lookupForm);
    var problems = [];
    if (!midInput.value.trim()) { problems.push("mid"); }
    if (!loginInput.value.trim()) { problems.push("login"); }
    if (problems.length) {
      problems.forEach(function (id) { MF.fieldError(id, { key: "error.required" }); });
      document.getElementById(problems[0]).focus();
      return;
    }
    stopTimer();
    current.generation += 1;
    current.id = midInput.value.trim();
    current.login = loginInput.value.trim();
    current.status = null;
    MF.setText(actionStatus, null);
    current.actionFrom = null;
    // Deep link with the ID only: the login never goes into the address bar or history.
    var url = new URL(window.location.href);
    url.searchParams.set("id", current.id);
    window.history.replaceState(null, "", url.pathname + "?" + url.searchParams.toString());
    load().then(function () {
      if (current.status) { document.getElementById("status-title").focus(); }
    });
  });

  function text(id, value) { document.getElementById(id).textContent = value; }

  function percentOf(c) {
    if (!c.total) { return 0; }
    return Math.min(100, Math.floor(((c.done + c.skipped + c.failed) * 100) / c.total));
  }

  function renderItems(st) {
    var box = document.getElementById("items");
    box.textContent = "";
    var names = Object.keys(st.items || {}).sort(function (a, b) {
      return ITEM_ORDER.indexOf(a) - ITEM_ORDER.indexOf(b);
    });
    if (!names.length) {
      var empty = document.createElement("p");
      empty.className = "hint";
      MF.setText(empty, "items.empty");
      box.appendChild(empty);
      return;
    }
    names.forEach(function (name) {
      var c = st.items[name];
      var row = document.createElement("div");
      row.className = "item";
      row.setAttribute("data-item", name);
      var label = document.createElement("div");
      label.className = "item-label";
      var title = document.createElement("span");
      title.className = "item-name";
      title.id = "item-" + name + "-label";
      MF.setText(title, "item." + name);
      var pct = document.createElement("span");
      pct.className = "item-percent";
      pct.textContent = (c.total ? percentOf(c) : (isFinal(st.state) ? 100 : 0)) + " %";
      label.appendChild(title);
      label.appendChild(pct);
      var bar = document.createElement("progress");
      bar.setAttribute("aria-labelledby", title.id);
      bar.setAttribute("aria-describedby", "item-" + name + "-counts");
      if (c.total) {
        bar.max = c.total;
        bar.value = c.done + c.skipped + c.failed;
      } else if (isFinal(st.state)) {
        bar.max = 1;
        bar.value = 1;
      } // else: indeterminate while nothing is planned yet
      if (c.failed) { bar.className = "has-failures"; }
      var counts = document.createElement("p");
      counts.className = "item-counts";
      counts.id = "item-" + name + "-counts";
      MF.setText(counts, "items.counts", { done: MF.formatNumber(c.done), skipped: MF.formatNumber(c.skipped),
        failed: MF.formatNumber(c.failed), total: MF.formatNumber(c.total) });
      counts.setAttribute("data-done", c.done);
      counts.setAttribute("data-skipped", c.skipped);
      counts.setAttribute("data-failed", c.failed);
      counts.setAttribute("data-total", c.total);
      row.appendChild(label);
      row.appendChild(bar);
      row.appendChild(counts);
      box.appendChild(row);
    });
  }

  function renderErrors(st) {
    var list = document.getElementById("errors");
    list.textContent = "";
    var errors = st.errors || [];
    if (!errors.length) {
      var none = document.createElement("li");
      none.className = "none";
      MF.setText(none, "errors.none");
      list.appendChild(none);
      return;
    }
    errors.slice(0, 20).forEach(function (e) {
      var li = document.createElement("li");
      var kind = document.createElement("span");
      kind.className = "tag tag-" + (e.result === "failed" ? "failed" : "skipped");
      MF.setText(kind, "result." + (e.result === "failed" ? "failed" : "skipped"));
      li.appendChild(kind);
      var where = [e.folder, e.subject].filter(Boolean).join(" · ");
      li.appendChild(document.createTextNode(" " + (where ? where + ": " : "") + (e.reason || e.item_key || "")));
      list.appendChild(li);
    });
    if (errors.length > 20) {
      var more = document.createElement("li");
      more.className = "none";
      MF.setText(more, "errors.more", { count: errors.length - 20 });
      list.appendChild(more);
    }
  }

  function overallPercent(st) {
    var total = 0;
    var seen = 0;
    Object.keys(st.items || {}).forEach(function (name) {
      var c = st.items[name];
      total += c.total;
      seen += c.done + c.skipped + c.failed;
    });
    if (isFinal(st.state) && !total) { return 100; }
    return total ? Math.floor((seen * 100) / total) : 0;
  }

  function render() {
    var st = current.status;
    if (!st) { return; }
    view.hidden = false;
    var state = st.state || "unknown";
    text("status-id", st.id);
    var badge = document.getElementById("state-badge");
    badge.className = "state-badge state-" + state;
    badge.setAttribute("data-state", state);
    MF.setText(badge, "state." + state);
    MF.setText(document.getElementById("state-text"), "state." + state);
    document.getElementById("state-text").setAttribute("data-state", state);
    text("created", MF.formatDate(st.created_at));
    text("updated", MF.formatDate(st.updated_at));
    text("finished", MF.formatDate(st.finished_at));
    var op = document.getElementById("operation");
    if (st.current_operation && !isFinal(state)) { MF.setText(op, "op." + st.current_operation); }
    else { MF.setText(op, "status.none"); }
    // Announced to screen readers: the state and the overall progress in steps of 10 %.
    var pct = overallPercent(st);
    MF.setText(document.getElementById("summary"), "summary.live",
      { state: MF.t("state." + state), percent: isFinal(state) ? pct : Math.floor(pct / 10) * 10 });
    // "Cancellation requested" / "Undo started" stay until the migration has moved on to a final state.
    if (current.actionFrom !== null && state !== current.actionFrom && isFinal(state)) {
      MF.setText(actionStatus, null);
      current.actionFrom = null;
    }
    var stopped = document.getElementById("stopped");
    if (st.error) {
      MF.setText(stopped, "status.stopped", { error: st.error });
      stopped.hidden = false;
    } else { stopped.hidden = true; }
    renderItems(st);
    renderErrors(st);
    var undoProgress = document.getElementById("undo-progress");
    if (st.undo) {
      MF.setText(undoProgress, "undo.progress", { done: MF.formatNumber(st.undo.done),
        total: MF.formatNumber(st.undo.total), messages: MF.formatNumber(st.undo.removed_messages),
        folders: MF.formatNumber(st.undo.removed_folders), settings: MF.formatNumber(st.undo.restored_settings) });
      if (st.undo.error) { undoProgress.textContent += " " + MF.t("undo.error", { error: st.undo.error }); }
      undoProgress.hidden = false;
    } else { undoProgress.hidden = true; }
    var report = document.getElementById("report-link");
    report.href = "/api/v1/migrations/" + encodeURIComponent(st.id) + "/report?login="
      + encodeURIComponent(current.login) + "&format=csv";
    document.getElementById("cancel-box").hidden = CANCELLABLE.indexOf(state) < 0;
    var canUndo = UNDOABLE.indexOf(state) >= 0 && st.undo_possible_until
      && new Date(st.undo_possible_until).getTime() > Date.now();
    if (!canUndo && !undoForm.hidden) { clearUndoPassword(); }
    undoForm.hidden = !canUndo;
    if (canUndo) {
      MF.setText(document.getElementById("undo-until"), "undo.until",
        { until: MF.formatDate(st.undo_possible_until) });
      showUndoAsks(st.undo_asks || "password");
    }
    MF.setText(document.getElementById("refresh-note"), isFinal(state) ? "refresh.final" : "refresh.auto",
      { time: new Intl.DateTimeFormat(MF.lang() === "de" ? "de-DE" : "en-GB", { timeStyle: "medium" })
        .format(new Date(current.fetchedAt)) });
  }

  MF.onLangChange(function () { render(); });

  /* What the undo asks for (intake's undo_asks): the target's password; a new sign-in with Microsoft, since
     the migration's own ended with it; or nothing, where the operator's app signs in. */
  var undoSignIn = { id: null, login: "" };

  function showUndoAsks(asks) {
    document.getElementById("undo-password-field").hidden = asks !== "password";
    document.getElementById("undo-password").required = asks === "password";
    document.getElementById("undo-sign-in-field").hidden = asks !== "sign_in";
    document.getElementById("undo-nothing-hint").hidden = asks !== "nothing";
    MF.setText(document.getElementById("undo-sign-in-hint"), "undo.sign_in_hint");
  }

  function forgetUndoSignIn() {
    undoSignIn.id = null;
    var status = document.getElementById("undo-sign-in-status");
    status.textContent = "";
    status.classList.remove("is-error", "is-ok");
  }

  document.getElementById("undo-sign-in").addEventListener("click", function () {
    var status = document.getElementById("undo-sign-in-status");
    MF.clearErrors(undoForm);
    forgetUndoSignIn();
    var url = current.status && current.status.undo_sign_in_url;
    var popup = url ? window.open(url, "mailferry-sign-in", "popup,width=520,height=680") : null;
    if (!popup) {
      MF.setText(status, "signin.blocked");
      status.classList.add("is-error");
      return;
    }
    MF.setText(status, "signin.busy");
  });

  /* The window's last page (signed-in.js) posts the sign-in id here; it goes with the undo as target_password. */
  window.addEventListener("message", function (event) {
    if (event.origin !== window.location.origin || !event.data || event.data.mailferry !== "sign-in") { return; }
    var status = document.getElementById("undo-sign-in-status");
    status.classList.remove("is-error", "is-ok");
    if (event.data.error || !event.data.signIn) {
      MF.setText(status, "signin.failed", { reason: String(event.data.error || "") });
      status.classList.add("is-error");
      return;
    }
    undoSignIn.id = String(event.data.signIn);
    undoSignIn.login = String(event.data.login || "");
    MF.setText(status, "signin.done", { login: undoSignIn.login });
    status.classList.add("is-ok");
  });

  function clearUndoPassword() {
    var pw = document.getElementById("undo-password");
    pw.value = "";
    pw.removeAttribute("value");
  }

  document.getElementById("cancel").addEventListener("click", function () {
    var button = document.getElementById("cancel");
    MF.clearErrors(document.getElementById("cancel-box"));
    button.disabled = true;
    MF.api("POST", "/api/v1/migrations/" + encodeURIComponent(current.id) + "/cancel", { login: current.login })
      .then(function (result) {
        button.disabled = false;
        if (result.ok) {
          current.actionFrom = current.status ? current.status.state : null;
          MF.setText(actionStatus, "cancel.sent");
        } else {
          MF.fieldError("cancel", MF.describeError(result));
        }
        load();
      });
  });

  undoForm.addEventListener("submit", function (event) {
    event.preventDefault();
    MF.clearErrors(undoForm);
    var asks = (current.status && current.status.undo_asks) || "password";
    var pw = document.getElementById("undo-password");
    var body = { login: current.login };
    var errorField = asks === "sign_in" ? "undo-sign-in" : "undo-password";
    if (asks === "password") {
      if (!pw.value) {
        MF.fieldError("undo-password", { key: "error.required" });
        pw.focus();
        return;
      }
      body.target_password = pw.value;
    } else if (asks === "sign_in") {
      if (!undoSignIn.id) {
        MF.fieldError("undo-sign-in", { key: "undo.sign_in_first" });
        document.getElementById("undo-sign-in").focus();
        return;
      }
      body.target_password = undoSignIn.id;
    }
    var button = document.getElementById("undo");
    button.disabled = true;
    var request = MF.api("POST", "/api/v1/migrations/" + encodeURIComponent(current.id) + "/undo", body);
    clearUndoPassword(); // asked again on a retry; never kept in the page
    forgetUndoSignIn(); // a sign-in serves one request
    request.then(function (result) {
      button.disabled = false;
      if (result.ok) {
        current.actionFrom = current.status ? current.status.state : null;
        MF.setText(actionStatus, "undo.sent");
        undoForm.hidden = true;
      } else {
        MF.fieldError(errorField, MF.describeError(result));
        document.getElementById(asks === "sign_in" ? "undo-sign-in" : "undo-password").focus();
      }
      load();
    });
  });
}());
