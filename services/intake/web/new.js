/* New migration: two accounts, options, notification address → POST /api/v1/migrations. */
(function () {
  "use strict";
  var MF = window.MF;
  var form = document.getElementById("migration-form");
  var source = new MF.Account("source");
  var target = new MF.Account("target");
  var startButton = document.getElementById("start");
  var busy = document.getElementById("busy");
  var formError = document.getElementById("form-error");

  function refreshOptions() { MF.updateOptions(source.type(), target.type()); }
  source.onTypeChange(refreshOptions);
  target.onTypeChange(refreshOptions);
  refreshOptions();

  function allFieldIds() {
    return source.fieldIds().concat(target.fieldIds(), ["options", "notify-email"]);
  }

  function showProblems(problems) {
    problems.forEach(function (p) { MF.fieldError(p[0], { key: p[1] }); });
    MF.setText(formError, "error.summary");
    formError.hidden = false;
    var first = document.getElementById(problems[0][0]);
    if (first) { first.focus(); }
  }

  function validate() {
    var problems = source.problems().concat(target.problems());
    if (MF.chosenOptions().length === 0) { problems.push(["options", "error.options_none"]); }
    var notify = document.getElementById("notify-email").value.trim();
    if (notify && !/^[^@\s]+@[^@\s]+$/.test(notify)) { problems.push(["notify-email", "error.email"]); }
    return problems;
  }

  function showServerError(result) {
    var err = MF.describeError(result);
    var fieldId = MF.fieldForError(err, allFieldIds());
    if (fieldId === "options") { document.getElementById("option-emails").focus(); }
    if (fieldId && MF.fieldError(fieldId, err)) {
      var input = document.getElementById(fieldId);
      if (input && input.focus && fieldId !== "options") { input.focus(); }
    } else {
      MF.renderError(formError, err);
      formError.focus();
    }
    if (err.code === "authentication_failed" && (err.side === "source" || err.side === "target")) {
      (err.side === "source" ? source : target).clearPassword();
    }
  }

  function showDone(id) {
    source.clearPassword();
    target.clearPassword();
    document.getElementById("form-card").hidden = true;
    var done = document.getElementById("done");
    document.getElementById("migration-id").textContent = id;
    document.getElementById("follow-link").setAttribute("href", "/status?id=" + encodeURIComponent(id));
    done.hidden = false;
    document.getElementById("done-title").focus();
  }

  document.getElementById("copy-id").addEventListener("click", function () {
    var id = document.getElementById("migration-id").textContent;
    var status = document.getElementById("copy-status");
    var copied = function () { MF.setText(status, "done.copied"); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(id).then(copied, function () { selectId(); });
    } else { selectId(); }
  });

  function selectId() {
    var range = document.createRange();
    range.selectNodeContents(document.getElementById("migration-id"));
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    MF.clearErrors(form);
    var problems = validate();
    if (problems.length) { showProblems(problems); return; }
    var notify = document.getElementById("notify-email").value.trim();
    var body = { source: source.endpoint(), target: target.endpoint(), options: MF.chosenOptions() };
    if (notify) { body.notify_email = notify; }
    startButton.disabled = true;
    form.setAttribute("aria-busy", "true");
    MF.setText(busy, "start.busy");
    var request = MF.api("POST", "/api/v1/migrations", body);
    body = null; // the request has its own serialized copy; keep no password in page state
    request.then(function (result) {
      startButton.disabled = false;
      form.removeAttribute("aria-busy");
      MF.setText(busy, null);
      if (result.status === 202 && result.data && result.data.id) { showDone(result.data.id); }
      else { showServerError(result); }
    });
  });
}());
