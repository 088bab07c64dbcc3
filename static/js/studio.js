// Small behaviours htmx does not cover: connection status, Enter to send, keeping the chat scrolled.
(function () {
  "use strict";

  function nearBottom(el) {
    return el.scrollHeight - el.scrollTop - el.clientHeight < 160;
  }

  document.addEventListener("htmx:wsOpen", function () {
    var c = document.getElementById("connection");
    if (c) { c.textContent = ""; c.classList.remove("offline"); }
    document.body.dataset.ws = "open";
  });
  document.addEventListener("htmx:wsClose", function () {
    var c = document.getElementById("connection");
    if (c) { c.textContent = "Reconnecting…"; c.classList.add("offline"); }
    document.body.dataset.ws = "closed";
  });

  var stick = true;
  document.addEventListener("htmx:wsBeforeMessage", function () {
    var m = document.getElementById("messages");
    stick = m ? nearBottom(m) : false;
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var m = document.getElementById("messages");
    if (m && stick) { m.scrollTop = m.scrollHeight; }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var m = document.getElementById("messages");
    if (m) { m.scrollTop = m.scrollHeight; }
  });

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && t.id === "composer-text" && e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (t.value.trim()) { t.form.requestSubmit(); }
    }
  });
})();
