/* The admin index re-reads its numbers every few seconds (no page reload, no CDN). */
(function () {
  "use strict";

  function refresh() {
    var root = document.getElementById("ops-dashboard");
    if (!root) { return Promise.resolve(null); }
    return fetch(root.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        root.innerHTML = data.html;
        root.classList.remove("ops-stale");
        return data;
      })
      .catch(function () {
        root.classList.add("ops-stale");  // shown by CSS: the numbers may be old
        return null;
      });
  }

  window.reloveDashboard = {refresh: refresh};

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("ops-dashboard");
    var seconds = root ? parseInt(root.dataset.refreshSeconds, 10) : 0;
    if (seconds > 0) {
      window.setInterval(function () {
        if (!document.hidden) { refresh(); }
      }, seconds * 1000);
    }
  });
})();
