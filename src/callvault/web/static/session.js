// Idle-timeout warning: the server ends a session after the idle limit; warn one minute before and let the
// user keep it with one request. When the limit has passed, go to the sign-in page.
(function () {
  var box = document.getElementById("idle-warning");
  if (!box) return;
  var idle = parseInt(box.dataset.idleSeconds || "900", 10) * 1000;
  var warnTimer, endTimer;
  function arm() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    box.hidden = true;
    warnTimer = setTimeout(function () { box.hidden = false; }, Math.max(idle - 60000, 1000));
    endTimer = setTimeout(function () { window.location.assign("/login"); }, idle + 1000);
  }
  document.getElementById("stay-signed-in").addEventListener("click", function () {
    fetch("/api/v1/auth/me", { credentials: "same-origin" }).then(arm);
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    // A timed refresh is not the user's activity: the server did not count it either.
    var headers = (event.detail && event.detail.requestConfig && event.detail.requestConfig.headers) || {};
    if (headers["X-CallVault-Timed-Refresh"] !== "1") arm();
  });
  // Pages with their own requests (fetch, WebSocket) say so: the server counted them as activity.
  document.body.addEventListener("callvault:activity", arm);
  arm();
})();
