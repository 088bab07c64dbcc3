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
  // The studio closes with 4401 when the sign-in ended and 4404 when the session is gone: the ws
  // extension does not reconnect after those, so say what to do instead of "Reconnecting…" for ever.
  var FINAL_CLOSES = {
    4401: "Signed out: reload the page to sign in again.",
    4404: "This session is no longer here: go back to your sessions."
  };
  document.addEventListener("htmx:wsClose", function (e) {
    var code = e.detail && e.detail.event ? e.detail.event.code : 0;
    var c = document.getElementById("connection");
    if (c) { c.textContent = FINAL_CLOSES[code] || "Reconnecting…"; c.classList.add("offline"); }
    document.body.dataset.ws = FINAL_CLOSES[code] ? "ended" : "closed";
  });

  // New content follows the artist down while they read at the bottom; what their own action made (a card
  // from Generate or Rework on an older brief) is brought into view; otherwise "New below" says it is there.
  var ACTION_FOLLOW_MS = 5000;
  var stick = true, acted = 0, count = 0;
  function newBelow(show) {
    var b = document.getElementById("new-below");
    if (b) { b.hidden = !show; }
  }
  document.addEventListener("click", function (e) {
    var t = e.target && e.target.closest ? e.target.closest("button") : null;
    if (t && t.closest("#messages, #turn-cue, #composer")) { acted = Date.now(); }
    if (t && t.id === "new-below") {
      var m = document.getElementById("messages");
      if (m) { m.scrollTop = m.scrollHeight; }
      newBelow(false);
    }
  });
  document.addEventListener("htmx:wsBeforeMessage", function () {
    var m = document.getElementById("messages");
    stick = m ? nearBottom(m) : false;
    count = m ? m.children.length : 0;
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var m = document.getElementById("messages");
    if (!m) { return; }
    var added = m.children.length > count;
    if (stick || (added && Date.now() - acted < ACTION_FOLLOW_MS)) {
      m.scrollTop = m.scrollHeight;
      newBelow(false);
    } else if (added) {
      newBelow(true);
    }
  });
  document.addEventListener("scroll", function (e) {
    if (e.target && e.target.id === "messages" && nearBottom(e.target)) { newBelow(false); }
  }, true);
  document.addEventListener("DOMContentLoaded", function () {
    var m = document.getElementById("messages");
    if (m) { m.scrollTop = m.scrollHeight; }
  });

  // The phone layout folds the phases and the team under Menu.
  document.addEventListener("click", function (e) {
    var b = e.target && e.target.closest ? e.target.closest("#head-menu") : null;
    var head = document.getElementById("studio-head");
    if (!b || !head) { return; }
    var open = head.classList.toggle("is-open");
    b.setAttribute("aria-expanded", open ? "true" : "false");
  });

  // "Roll" on a brief card: a random seed, kept for the next Generate.
  document.addEventListener("click", function (e) {
    var b = e.target && e.target.closest ? e.target.closest(".roll-seed") : null;
    if (!b || !b.form) { return; }
    var seed = b.form.querySelector('input[name="seed"]');
    var fresh = b.form.querySelector('input[name="new_seed"]');
    var value = new Uint32Array(1);
    window.crypto.getRandomValues(value);
    if (seed) { seed.value = String(value[0]); }
    if (fresh) { fresh.checked = false; }
  });

  // The status line a screen reader hears: who started or finished talking (the chat itself is not live,
  // or every streamed token would be read out).
  var talking = {};
  function speakerOf(article) {
    var name = article.querySelector(".bubble header strong");
    return name ? name.textContent.trim() : "";
  }
  function sayStatus() {
    var status = document.getElementById("team-status");
    var m = document.getElementById("messages");
    if (!status || !m) { return; }
    var now = {}, said = [];
    m.querySelectorAll("article.msg.is-streaming").forEach(function (a) {
      now[a.id] = speakerOf(a);
      if (!talking[a.id]) { said.push(now[a.id] + " is replying"); }
    });
    Object.keys(talking).forEach(function (id) {
      if (now[id]) { return; }
      var a = document.getElementById(id);
      var how = a && a.classList.contains("is-failed") ? " could not answer" :
        a && a.classList.contains("is-interrupted") ? " was interrupted" : " finished";
      said.push(talking[id] + how);
    });
    talking = now;
    if (said.length) { status.textContent = said.join(". ") + "."; }
  }
  document.addEventListener("htmx:wsAfterMessage", sayStatus);
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#messages article.msg.is-streaming").forEach(function (a) { talking[a.id] = speakerOf(a); });
  });

  // The viewer: the arrow keys go to the newer and the older picture (not while typing).
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.altKey || e.ctrlKey || e.metaKey || (t && t.closest && t.closest("input, textarea, select, video"))) { return; }
    var rel = e.key === "ArrowLeft" ? "prev" : e.key === "ArrowRight" ? "next" : "";
    var link = rel ? document.querySelector('.viewer-nav a[rel="' + rel + '"]') : null;
    if (link) { e.preventDefault(); link.click(); }
  });

  // A form that asks first (inline handlers are refused by the Content-Security-Policy).
  document.addEventListener("submit", function (e) {
    var question = e.target && e.target.dataset ? e.target.dataset.confirm : "";
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t && t.id === "composer-text" && e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (t.value.trim()) { t.form.requestSubmit(); }
    }
  });

  // The brief card: an aspect preset shows its size in the folded numbers, and a typed size is a custom one
  // (the server decides by the aspect sent: a preset takes the model family's trained size).
  document.addEventListener("change", function (e) {
    var t = e.target;
    if (!t || t.name !== "aspect" || !t.form || !t.form.classList.contains("brief-card")) { return; }
    var option = t.options[t.selectedIndex];
    if (option && option.dataset.width) {
      t.form.elements.width.value = option.dataset.width;
      t.form.elements.height.value = option.dataset.height;
    }
  });
  document.addEventListener("input", function (e) {
    var t = e.target;
    if (!t || (t.name !== "width" && t.name !== "height") || !t.form || !t.form.classList.contains("brief-card")) {
      return;
    }
    t.form.elements.aspect.value = "custom";
  });
})();
