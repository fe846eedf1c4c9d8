/* PST migration: file + target account → multipart POST /api/v1/pst-migrations, with upload progress. */
(function () {
  "use strict";
  var MF = window.MF;
  var form = document.getElementById("pst-form");
  var fileInput = document.getElementById("pst-file");
  var target = new MF.Account("target");
  var startButton = document.getElementById("start");
  var busy = document.getElementById("busy");
  var formError = document.getElementById("form-error");
  var uploadBox = document.getElementById("upload-box");
  var progress = document.getElementById("upload-progress");
  var uploadStatus = document.getElementById("upload-status");
  var lastAnnounced = -1;

  function refreshOptions() { MF.updateOptions("pst", target.type()); }
  target.onTypeChange(refreshOptions);
  refreshOptions();

  function allFieldIds() { return target.fieldIds().concat(["pst-file", "file", "options", "notify-email"]); }

  function validate() {
    var problems = [];
    if (!fileInput.files || !fileInput.files.length) { problems.push(["pst-file", "error.file_required"]); }
    problems = problems.concat(target.problems());
    if (MF.chosenOptions().length === 0) { problems.push(["options", "error.options_none"]); }
    var notify = document.getElementById("notify-email").value.trim();
    if (notify && !/^[^@\s]+@[^@\s]+$/.test(notify)) { problems.push(["notify-email", "error.email"]); }
    return problems;
  }

  function setProgress(loaded, total) {
    var percent = total ? Math.floor((loaded * 100) / total) : 0;
    progress.max = 100;
    progress.value = percent;
    // The live region speaks in steps of 10 % so a screen reader is not flooded.
    var step = Math.floor(percent / 10) * 10;
    if (step !== lastAnnounced || percent === 100) {
      lastAnnounced = step;
      MF.setText(uploadStatus, "upload.progress",
        { percent: percent, loaded: MF.formatBytes(loaded), total: MF.formatBytes(total) });
    }
    MF.setText(document.getElementById("upload-label"), "upload.progress",
      { percent: percent, loaded: MF.formatBytes(loaded), total: MF.formatBytes(total) });
  }

  function finish(status, text) {
    startButton.disabled = false;
    form.removeAttribute("aria-busy");
    MF.setText(busy, null);
    var data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { raw: text }; }
    if (status === 202 && data && data.id) {
      target.clearPassword();
      document.getElementById("form-card").hidden = true;
      document.getElementById("migration-id").textContent = data.id;
      document.getElementById("follow-link").setAttribute("href", "/status?id=" + encodeURIComponent(data.id));
      document.getElementById("done").hidden = false;
      document.getElementById("done-title").focus();
      return;
    }
    uploadBox.hidden = true;
    var err = MF.describeError({ ok: false, status: status, data: data });
    if (status === 404 || status === 405) {
      err.key = "pst.unavailable";
      err.params = null;
      if (!err.message) { err.message = "HTTP " + status; }
    }
    var fieldId = MF.fieldForError(err, allFieldIds());
    if (fieldId === "file") { fieldId = "pst-file"; }
    if (!(fieldId && MF.fieldError(fieldId, err))) {
      MF.renderError(formError, err);
      formError.focus();
    }
    if (err.code === "authentication_failed") { target.clearPassword(); }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    MF.clearErrors(form);
    var problems = validate();
    if (problems.length) {
      problems.forEach(function (p) { MF.fieldError(p[0], { key: p[1] }); });
      MF.setText(formError, "error.summary");
      formError.hidden = false;
      document.getElementById(problems[0][0]).focus();
      return;
    }
    var data = new FormData();
    data.append("file", fileInput.files[0]);
    data.append("target", JSON.stringify(target.endpoint()));
    data.append("options", JSON.stringify(MF.chosenOptions()));
    var notify = document.getElementById("notify-email").value.trim();
    if (notify) { data.append("notify_email", notify); }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/pst-migrations");
    xhr.setRequestHeader("Accept", "application/json");
    lastAnnounced = -1;
    uploadBox.hidden = false;
    setProgress(0, fileInput.files[0].size);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) { setProgress(e.loaded, e.total); }
    });
    xhr.upload.addEventListener("load", function () { MF.setText(busy, "upload.done"); });
    xhr.addEventListener("load", function () { finish(xhr.status, xhr.responseText); });
    xhr.addEventListener("error", function () { finish(0, ""); });
    xhr.addEventListener("abort", function () { finish(0, ""); });
    startButton.disabled = true;
    form.setAttribute("aria-busy", "true");
    xhr.send(data);
    data = null; // the request holds its own copy; keep no password in page state
  });
}());
