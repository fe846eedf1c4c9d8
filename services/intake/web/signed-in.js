/* The page a sign-in with Microsoft ends on: hand its result (in the URL fragment, which no server sees) to the
   form that opened this window, then close. */
(function () {
  "use strict";
  var params = {};
  window.location.hash.replace(/^#/, "").split("&").forEach(function (pair) {
    var i = pair.indexOf("=");
    if (i > 0) { params[pair.slice(0, i)] = decodeURIComponent(pair.slice(i + 1)); }
  });
  history.replaceState(null, "", window.location.pathname);
  var text = document.getElementById("signed-in");
  var message = { mailferry: "sign-in", signIn: params.sign_in || "", login: params.login || "",
    error: params.error || "" };
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage(message, window.location.origin);
    text.textContent = message.error ? message.error : "Signed in. This window closes now.";
    if (!message.error) { window.close(); }
  } else {
    text.textContent = message.error || "Signed in. Go back to the form that opened this window.";
  }
}());
