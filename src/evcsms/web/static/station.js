/* The station page's live part: a server-sent event stream (GET .../events) says when
   something changed; the part is then fetched again as HTML (GET .../live) and swapped in.
   Without EventSource the part is fetched every 5 s. */
(function () {
  "use strict";
  var box = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!box) { return; }
  var busy = false, again = false, stopped = false;

  function say(text, state) {
    if (status) { status.textContent = text; status.dataset.live = state; }
  }

  function refresh() {
    if (stopped) { return; }
    if (busy) { again = true; return; }
    busy = true;
    fetch(box.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected || !response.ok) {  // logged out, or the station is gone
          stopped = true;
          say("Live updates: stopped (reload the page)", "off");
          throw new Error("live part not available");
        }
        return response.text();
      })
      .then(function (html) {
        box.innerHTML = html;
        var now = box.querySelector("[data-live-state]");
        var shown = document.querySelector("#station dd[data-state]");
        if (now && shown) {  // the station's state in the facts at the top follows too
          shown.dataset.state = now.dataset.liveState;
          shown.className = "state state-" + now.dataset.liveState;
          shown.textContent = now.dataset.liveState;
        }
        box.dataset.refreshed = String(Number(box.dataset.refreshed || 0) + 1);
      })
      .catch(function () { /* shown above; the next change retries */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  if (window.EventSource) {
    var source = new EventSource(box.dataset.eventsUrl);
    source.onopen = function () { say("Live updates: on", "on"); };
    source.onerror = function () { say("Live updates: reconnecting…", "off"); };
    source.addEventListener("change", refresh);
  } else {
    say("Live updates: every 5 s", "on");
    window.setInterval(refresh, 5000);
  }
})();
