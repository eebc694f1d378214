// The board's live part: fetched again when the server says something changed (server-sent
// events from /events), and every minute while it shows "now" (shifts change on the hour,
// and a change made by another process is not told here). An ended session goes to the login.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var url = live.getAttribute("data-live");
  var busy = false;
  var again = false;

  function toLogin() { window.location.assign("/login"); }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(url, { credentials: "same-origin" })
      .then(function (answer) {
        if (answer.status === 401) { toLogin(); return null; }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) { if (html !== null && html !== undefined) { live.innerHTML = html; } })
      .catch(function () { /* the next change or minute tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var events = new EventSource("/events");
  events.addEventListener("change", refresh);
  events.addEventListener("expired", function () { events.close(); toLogin(); });
  if (live.getAttribute("data-now")) { window.setInterval(refresh, 60000); }
}());
