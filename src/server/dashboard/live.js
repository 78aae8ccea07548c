// rectify dashboard: live refresh. The server sends the ledger's applied
// log position on /dashboard/live whenever it moves; when it differs from
// the position this page was rendered at, the page is fetched again and
// its <main> swapped in place (no reload, scroll kept). Nothing else runs.
(function () {
  "use strict";
  var status = document.getElementById("live-status");
  var busy = false;
  var again = false;
  function say(text) { if (status) { status.textContent = text; } }
  function editing() {
    var active = document.activeElement;
    return active && active.form && document.querySelector("main").contains(active);
  }
  function refresh() {
    if (busy || editing()) { again = true; return; }
    busy = true;
    fetch(location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (reply) {
        if (!reply.ok) { throw new Error("HTTP " + reply.status); }
        return reply.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var main = fresh.querySelector("main");
        if (main) {
          document.querySelector("main").replaceWith(main);
          document.body.dataset.applied = fresh.body.dataset.applied || "";
          say("实时 · 已更新");
        }
      })
      .catch(function () { say("刷新失败"); })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  if (!window.EventSource) { return; }
  var source = new EventSource("/dashboard/live");
  source.addEventListener("applied", function (event) {
    say("实时");
    if (event.data !== document.body.dataset.applied) { refresh(); }
  });
  source.onerror = function () { say("连接中断，重连中"); };
  document.addEventListener("focusout", function () { if (again && !busy) { again = false; refresh(); } });
}());
