// The invoice page without JavaScript refreshes itself every 10 s; with it,
// it counts down and asks the server for the order's status every 2 s, and
// reloads when the status changes.
(function () {
  "use strict";
  var box = document.getElementById("invoice");
  if (!box) return;
  var noscript = document.querySelector("noscript");
  // Copy buttons: shown only where the clipboard can be written.
  if (navigator.clipboard) {
    Array.prototype.forEach.call(document.querySelectorAll("button.copy"), function (b) {
      b.hidden = false;
      b.addEventListener("click", function () {
        var el = document.getElementById(b.getAttribute("data-copy"));
        navigator.clipboard.writeText(el.textContent.trim()).then(function () {
          b.textContent = "Copied";
          setTimeout(function () { b.textContent = "Copy"; }, 2000);
        });
      });
    });
  }
  var cd = document.getElementById("countdown");
  if (cd) {
    var left = parseInt(cd.getAttribute("data-seconds"), 10) || 0;
    var tick = function () {
      var m = Math.floor(left / 60), s = left % 60;
      cd.textContent = left > 0 ? m + ":" + (s < 10 ? "0" : "") + s + " left" : "time is up";
      if (left > 0) left--;
    };
    tick();
    setInterval(tick, 1000);
  }
  if (box.getAttribute("data-final") === "true") return;
  var state = box.getAttribute("data-state"), flags = box.getAttribute("data-flags");
  var url = "/invoice/" + encodeURIComponent(box.getAttribute("data-order")) + "/status";
  var poll = function () {
    fetch(url, { cache: "no-store", credentials: "omit" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (st) {
      if (!st) return;
      if (st.state !== state || st.flags !== flags) { location.reload(); return; }
      document.getElementById("status-title").textContent = st.title;
      document.getElementById("status-message").textContent = st.message;
    }).catch(function () {}).then(function () { setTimeout(poll, 2000); });
  };
  setTimeout(poll, 2000);
})();
