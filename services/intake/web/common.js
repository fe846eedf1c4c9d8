/* mailferry web pages: translations, API calls, field errors, account fields, options. No dependencies. */
(function () {
  "use strict";

  var LANGS = ["en", "de"];
  var STORE_KEY = "mailferry.lang";
  var dictionaries = JSON.parse(document.getElementById("i18n-data").textContent);
  var listeners = [];

  function storedLang() {
    try { return window.localStorage.getItem(STORE_KEY); } catch (e) { return null; }
  }

  function initialLang() {
    var fromQuery = new URLSearchParams(window.location.search).get("lang");
    if (fromQuery && LANGS.indexOf(fromQuery) >= 0) { return fromQuery; }
    var stored = storedLang();
    if (stored && LANGS.indexOf(stored) >= 0) { return stored; }
    var fromServer = document.documentElement.getAttribute("lang"); // negotiated from Accept-Language
    return LANGS.indexOf(fromServer) >= 0 ? fromServer : "en";
  }

  var lang = initialLang();

  /* The count a parameter holds, for choosing a plural form: callers pass numbers already formatted
     ("1,234", "1.234"), so the digits are read back. */
  function countOf(value) {
    var digits = String(value).replace(/[^0-9]/g, "");
    return digits ? Number(digits) : NaN;
  }

  /* {name} is the parameter; {name|one|other} is the word of the parameter's plural form in the page's
     language ("1 message", "2 messages"; German has the same two forms). */
  function t(key, params) {
    var text = (dictionaries[lang] && dictionaries[lang][key]) || dictionaries.en[key] || key;
    if (params) {
      var rules = new Intl.PluralRules(lang === "de" ? "de-DE" : "en-GB");
      text = text.replace(/\{(\w+)\|([^|{}]*)\|([^|{}]*)\}/g, function (all, name, one, other) {
        if (!Object.prototype.hasOwnProperty.call(params, name)) { return all; }
        var n = countOf(params[name]);
        return !isNaN(n) && rules.select(n) === "one" ? one : other;
      });
      text = text.replace(/\{(\w+)\}/g, function (all, name) {
        return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : all;
      });
    }
    return text;
  }

  /* Every element with data-i18n gets its text from the dictionary (with data-i18n-params, a JSON object);
     data-i18n-attr="placeholder:key;aria-label:key" does the same for attributes. */
  function apply(root) {
    root = root || document;
    document.documentElement.setAttribute("lang", lang);
    root.querySelectorAll("[data-i18n]").forEach(function (el) {
      var params = el.getAttribute("data-i18n-params");
      el.textContent = t(el.getAttribute("data-i18n"), params ? JSON.parse(params) : null);
    });
    root.querySelectorAll("[data-i18n-attr]").forEach(function (el) {
      el.getAttribute("data-i18n-attr").split(";").forEach(function (pair) {
        var bits = pair.split(":");
        if (bits.length === 2) { el.setAttribute(bits[0].trim(), t(bits[1].trim())); }
      });
    });
  }

  /* Put a translated text into an element so that it follows later language switches. */
  function setText(el, key, params) {
    if (!key) {
      el.removeAttribute("data-i18n");
      el.removeAttribute("data-i18n-params");
      el.textContent = "";
      return;
    }
    el.setAttribute("data-i18n", key);
    if (params) { el.setAttribute("data-i18n-params", JSON.stringify(params)); }
    else { el.removeAttribute("data-i18n-params"); }
    el.textContent = t(key, params);
  }

  function setLang(next) {
    if (LANGS.indexOf(next) < 0) { return; }
    lang = next;
    try { window.localStorage.setItem(STORE_KEY, next); } catch (e) { /* private mode: not remembered */ }
    var url = new URL(window.location.href);
    if (url.searchParams.has("lang")) {
      url.searchParams.delete("lang");
      window.history.replaceState(null, "", url.pathname + url.search + url.hash);
    }
    apply();
    listeners.forEach(function (fn) { fn(lang); });
  }

  function onLangChange(fn) { listeners.push(fn); }

  function formatDate(iso) {
    if (!iso) { return t("status.none"); }
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return iso; }
    return new Intl.DateTimeFormat(lang === "de" ? "de-DE" : "en-GB",
      { dateStyle: "medium", timeStyle: "medium" }).format(d);
  }

  function formatNumber(n) { return new Intl.NumberFormat(lang === "de" ? "de-DE" : "en-GB").format(n); }

  function formatBytes(n) {
    var units = ["B", "KB", "MB", "GB", "TB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return new Intl.NumberFormat(lang === "de" ? "de-DE" : "en-GB", { maximumFractionDigits: i ? 1 : 0 })
      .format(n) + " " + units[i];
  }

  /* fetch() wrapper: resolves to {ok, status, data}; a network failure gives status 0. */
  function api(method, url, body) {
    var init = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin",
      cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return window.fetch(url, init).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { raw: text }; }
        return { ok: resp.ok, status: resp.status, data: data };
      });
    }, function () { return { ok: false, status: 0, data: null }; });
  }

  /* An API answer that is not ok → {code, key, params, message, side, field} for display. */
  function describeError(result) {
    var err = (result.data && result.data.error) || {};
    var code = err.code || "";
    var message = err.message || "";
    if (!message && result.data && typeof result.data.detail === "string") { message = result.data.detail; }
    if (!message && result.data && typeof result.data.raw === "string") { message = result.data.raw.slice(0, 300); }
    var key;
    var params = null;
    if (result.status === 0) { key = "error.network"; }
    else if (code && dictionaries.en["error.code." + code]) { key = "error.code." + code; }
    else { key = "error.http"; params = { status: result.status }; }
    return { code: code, key: key, params: params, message: message, side: err.side || null,
      field: err.field || null, status: result.status };
  }

  /* Show an error under a field (or in a box): a plain translated sentence, then the server's own words. */
  function renderError(box, err) {
    box.textContent = "";
    var main = document.createElement("span");
    main.className = "error-main";
    setText(main, err.key, err.params);
    box.appendChild(main);
    if (err.message) {
      var detail = document.createElement("span");
      detail.className = "error-detail";
      setText(detail, "error.details", { message: err.message });
      box.appendChild(detail);
    }
    box.hidden = false;
  }

  function fieldError(inputId, err) {
    var input = document.getElementById(inputId);
    var box = document.getElementById(inputId + "-error");
    if (!box) { return false; }
    renderError(box, err);
    if (input) { input.setAttribute("aria-invalid", "true"); }
    var wrapper = box.closest(".field, fieldset");
    if (wrapper) { wrapper.classList.add("has-error"); }
    return true;
  }

  function clearErrors(root) {
    root.querySelectorAll(".field-error, .form-error").forEach(function (box) {
      box.textContent = "";
      box.hidden = true;
    });
    root.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
    root.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
  }

  /* Typing into a field that was marked wrong takes its mark and message away. */
  function clearFieldError(input) {
    if (!input || !input.id || input.getAttribute("aria-invalid") !== "true") { return; }
    input.removeAttribute("aria-invalid");
    var box = document.getElementById(input.id + "-error");
    if (box) { box.textContent = ""; box.hidden = true; }
    var wrapper = input.closest(".field, fieldset");
    if (wrapper) { wrapper.classList.remove("has-error"); }
  }
  document.addEventListener("input", function (event) { clearFieldError(event.target); });

  /* Where an intake error belongs: {code, side, field} → the id of an input, or null for the general box. */
  var SERVER_CODES = ["host_not_found", "address_not_allowed", "server_unreachable", "tls_error", "protocol_error"];

  function fieldForError(err, fieldIds) {
    if (err.field) {
      var id = err.field.replace(/\./g, "-").replace(/_/g, "-");
      if (fieldIds.indexOf(id) >= 0) { return id; }
      var side = err.field.split(".")[0];
      if (err.field.indexOf(".") > 0 && fieldIds.indexOf(side + "-host") >= 0
          && (err.field.endsWith("tls_verify") || err.field.endsWith("sieve_port"))) {
        return side + "-host";
      }
      if (fieldIds.indexOf(err.field) >= 0) { return err.field; }
    }
    if (err.side === "source" || err.side === "target") {
      if (err.code === "authentication_failed") { return err.side + "-password"; }
      if (SERVER_CODES.indexOf(err.code) >= 0) { return err.side + "-host"; }
    }
    return null;
  }

  /* One account's fields ("source", "target"): type, login, detect, server, port, security, password. */
  function Account(side) {
    var self = this;
    this.side = side;
    this.el = function (name) { return document.getElementById(side + "-" + name); };
    this.typeSelect = this.el("type");
    this.lastDefaultPort = null;
    this.listeners = [];
    this.typeSelect.addEventListener("change", function () { self.typeChanged(); });
    this.el("security").addEventListener("change", function () { self.fillDefaultPort(); });
    this.el("detect").addEventListener("click", function () { self.detect(); });
    this.signInId = null;
    this.el("sign-in").addEventListener("click", function () { self.signIn(); });
    this.fillDefaultPort();
    this.showFields();
  }

  Account.prototype.onTypeChange = function (fn) { this.listeners.push(fn); };

  Account.prototype.type = function () { return this.typeSelect.value; };

  /* What intake says of the chosen account type (web_routes.py puts it on each option, from the registry):
     its usual ports by security, and the security the form selects for it ("" keeps the user's). */
  Account.prototype.typeFacts = function () {
    var option = this.typeSelect.options[this.typeSelect.selectedIndex];
    var ports = option && option.getAttribute("data-ports");
    return { ports: ports ? JSON.parse(ports) : null, security: (option && option.getAttribute("data-security")) || "",
      operatorServer: !!(option && option.getAttribute("data-server") === "operator"),
      signIn: (option && option.getAttribute("data-sign-in")) || "",
      passwordOptional: !!(option && option.getAttribute("data-password") === "optional") };
  };

  /* Show the fields the chosen type asks for: no server where the operator sets it, the sign-in button
     where the user can sign in with the service's own page instead of giving a password. */
  Account.prototype.showFields = function () {
    var facts = this.typeFacts();
    var ownServer = !facts.operatorServer;
    this.el("server-row").hidden = !ownServer;
    this.el("security-field").hidden = !ownServer;
    this.el("host").required = ownServer;
    this.el("port").required = ownServer;
    this.el("sign-in-field").hidden = !facts.signIn;
    this.el("password-field").hidden = !!facts.signIn;
    this.el("password").required = !facts.signIn && !facts.passwordOptional;
    if (!facts.signIn) { this.forgetSignIn(); }
  };

  Account.prototype.forgetSignIn = function () {
    this.signInId = null;
    this.el("sign-in-hint").hidden = false;
    var status = this.el("sign-in-status");
    status.textContent = "";
    status.classList.remove("is-error", "is-ok");
  };

  /* Sign in with the service in a window of its own; the page it ends on (signed-in.js) posts the sign-in id
     back here, and the form sends that id in place of a password. */
  Account.prototype.signIn = function () {
    var self = this;
    var status = this.el("sign-in-status");
    var url = this.typeFacts().signIn + "?login=" + encodeURIComponent(this.el("login").value.trim());
    this.forgetSignIn();
    var popup = window.open(url, "mailferry-sign-in", "popup,width=520,height=680");
    if (!popup) {
      setText(status, "signin.blocked");
      status.classList.add("is-error");
      return;
    }
    setText(status, "signin.busy");
    Account.signingIn = this;
    if (!Account.listening) {
      Account.listening = true;
      window.addEventListener("message", function (event) {
        var who = Account.signingIn;
        if (event.origin !== window.location.origin || !who || !event.data || event.data.mailferry !== "sign-in") {
          return;
        }
        Account.signingIn = null;
        who.signedIn(event.data);
      });
    }
  };

  Account.prototype.signedIn = function (data) {
    var status = this.el("sign-in-status");
    status.classList.remove("is-error", "is-ok");
    if (data.error || !data.signIn) {
      setText(status, "signin.failed", { reason: String(data.error || "") });
      status.classList.add("is-error");
      return;
    }
    this.signInId = String(data.signIn);
    this.el("sign-in-hint").hidden = true;
    if (data.login) { this.el("login").value = String(data.login); }
    setText(status, "signin.done", { login: this.el("login").value });
    status.classList.add("is-ok");
  };

  Account.prototype.typeChanged = function () {
    var security = this.typeFacts().security;
    if (security) { this.el("security").value = security; }
    this.fillDefaultPort();
    this.showFields();
    this.listeners.forEach(function (fn) { fn(); });
  };

  /* Put the usual port in while the user has not typed one of their own. */
  Account.prototype.fillDefaultPort = function () {
    var port = this.el("port");
    var ports = this.typeFacts().ports;
    if (!ports) { return; }
    var wanted = ports[this.el("security").value];
    if (port.value === "" || Number(port.value) === this.lastDefaultPort) {
      port.value = String(wanted);
      this.lastDefaultPort = wanted;
    }
  };

  Account.prototype.detect = function () {
    var self = this;
    var status = this.el("detect-status");
    var button = this.el("detect");
    var email = this.el("login").value.trim();
    status.classList.remove("is-error", "is-ok");
    if (email.indexOf("@") < 1) {
      setText(status, "detect.need_email");
      status.classList.add("is-error");
      this.el("login").focus();
      return Promise.resolve();
    }
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    setText(status, "detect.busy", { email: email });
    return api("GET", "/api/v1/autodetect?email=" + encodeURIComponent(email)).then(function (result) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
      if (!result.ok) {
        var code = result.data && result.data.error ? result.data.error.code : "";
        if (code === "not_found") { setText(status, "detect.none_any"); }
        else if (code === "invalid_request") { setText(status, "error.email"); }
        else if (result.status === 404 || result.status === 405) { setText(status, "detect.unavailable"); }
        else { setText(status, "detect.failed"); }
        status.classList.add("is-error");
        return;
      }
      var wanted = self.type();
      var allowed = Array.prototype.map.call(self.typeSelect.options, function (o) { return o.value; });
      var suggestions = (result.data && result.data.suggestions) || [];
      var pick = null;
      suggestions.forEach(function (s) {
        if (pick) { return; }
        if (wanted === "detect" ? allowed.indexOf(s.protocol) >= 0 : s.protocol === wanted) { pick = s; }
      });
      if (!pick) {
        if (wanted === "detect") { setText(status, "detect.none_any"); }
        else { setText(status, "detect.none", { type: t("type." + wanted) }); }
        status.classList.add("is-error");
        return;
      }
      var detectedType = wanted === "detect";
      if (detectedType) { self.typeSelect.value = pick.protocol; self.showFields(); }
      self.el("host").value = pick.host;
      self.el("security").value = pick.security;
      self.el("port").value = String(pick.port);
      self.lastDefaultPort = null;
      var params = { type: t("type." + pick.protocol), host: pick.host, port: pick.port,
        security: t("security." + pick.security), source: t("detect.source." + pick.source) };
      status.textContent = "";
      status.removeAttribute("data-i18n");
      var main = document.createElement("span");
      setText(main, detectedType ? "detect.found_type" : "detect.found", params);
      status.appendChild(main);
      if (pick.login && pick.login !== email) {
        self.el("login").value = pick.login;
        var login = document.createElement("span");
        setText(login, "detect.login", { login: pick.login });
        status.appendChild(document.createTextNode(" "));
        status.appendChild(login);
      }
      if (pick.note) {
        var note = document.createElement("span");
        note.className = "detect-note";
        note.textContent = " (" + pick.note + ")";
        status.appendChild(note);
      }
      status.classList.add("is-ok");
      if (detectedType) { self.listeners.forEach(function (fn) { fn(); }); }
    });
  };

  Account.prototype.fieldIds = function () {
    var side = this.side;
    return ["type", "login", "host", "port", "security", "password"].map(function (n) { return side + "-" + n; });
  };

  /* Check the fields; returns a list of [inputId, key] problems. */
  Account.prototype.problems = function () {
    var out = [];
    var side = this.side;
    if (this.type() === "detect") { out.push([side + "-type", "error.choose_type"]); }
    ["login", "host", "port", "password"].forEach(function (n) {
      var input = document.getElementById(side + "-" + n);
      if ((n === "login" || input.required) && !input.value.trim()) { out.push([input.id, "error.required"]); }
    });
    var port = Number(this.el("port").value);
    if (this.el("port").value.trim() && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
      out.push([side + "-port", "error.port"]);
    }
    return out;
  };

  /* The endpoint as the API wants it. The password is read here and nowhere kept. */
  Account.prototype.endpoint = function () {
    var facts = this.typeFacts();
    if (facts.operatorServer || facts.signIn) {
      var ep = { type: this.type(), login: this.el("login").value.trim() };
      if (this.signInId) { ep.auth = "oauth2"; ep.password = this.signInId; }
      else if (!facts.signIn && this.el("password").value) { ep.password = this.el("password").value; }
      return ep;
    }
    return { type: this.type(), host: this.el("host").value.trim(), port: Number(this.el("port").value),
      security: this.el("security").value, login: this.el("login").value.trim(),
      password: this.el("password").value };
  };

  Account.prototype.clearPassword = function () {
    this.forgetSignIn();
    var pw = this.el("password");
    pw.value = "";
    pw.defaultValue = "";
    pw.removeAttribute("value");
  };

  /* Option checkboxes. Which ones a source/target pair can take comes from intake (GET /api/v1/option-rules,
     made from the systems in shared/adapters/registry.py, the rules intake checks requests with); the page only says why. */
  var optionRules = null;
  var optionRulesRequested = false;
  var optionPair = null;

  function optionBoxes() { return document.querySelectorAll('#options input[name="options"]'); }

  function allowedOptions(source, target) {
    if (!optionRules || source === "detect" || target === "detect") { return ["emails"]; }
    return (optionRules[source] && optionRules[source][target]) || ["emails"];
  }

  function optionsReason(source, target) {
    if (source === "detect" || target === "detect") { return { key: "options.reason.pending" }; }
    return { key: "options.reason." + source + "_" + target };  // one per pair the registry offers
  }

  function applyOptions() {
    var allowed = allowedOptions(optionPair[0], optionPair[1]);
    optionBoxes().forEach(function (box) {
      var ok = allowed.indexOf(box.value) >= 0;
      box.disabled = !ok;
      if (!ok) { box.checked = false; }
      box.closest(".check").classList.toggle("is-disabled", !ok);
    });
    var reason = optionsReason(optionPair[0], optionPair[1]);
    setText(document.getElementById("options-reason"), reason.key, reason.params || null);
  }

  /* Until the rules have arrived (or if they cannot be had) only e-mails are offered: every pair takes them. */
  function updateOptions(source, target) {
    optionPair = [source, target];
    applyOptions();
    if (optionRulesRequested) { return; }
    optionRulesRequested = true;
    api("GET", "/api/v1/option-rules").then(function (result) {
      optionRules = (result.ok && result.data && result.data.options) || null;
      applyOptions();
    });
  }

  function chosenOptions() {
    return Array.prototype.filter.call(optionBoxes(), function (box) { return box.checked && !box.disabled; })
      .map(function (box) { return box.value; });
  }

  /* Page chrome: the language control and the current page in the navigation. */
  function initChrome() {
    var select = document.getElementById("lang-select");
    if (select) {
      select.value = lang;
      select.addEventListener("change", function () { setLang(select.value); });
    }
    apply();
  }

  window.MF = { t: t, apply: apply, setText: setText, setLang: setLang, lang: function () { return lang; },
    onLangChange: onLangChange, formatDate: formatDate, formatNumber: formatNumber, formatBytes: formatBytes,
    api: api, describeError: describeError, renderError: renderError, fieldError: fieldError,
    clearErrors: clearErrors, fieldForError: fieldForError, Account: Account,
    updateOptions: updateOptions, chosenOptions: chosenOptions };

  initChrome();
}());
