// Idle-timeout warning: the server ends a session after the idle limit; warn two minutes before and let the
// user keep it with one request.
(function () {
  var box = document.getElementById("idle-warning");
  if (!box) return;
  var idle = parseInt(box.dataset.idleSeconds || "900", 10) * 1000;
  var timer;
  function arm() {
    clearTimeout(timer);
    box.hidden = true;
    timer = setTimeout(function () { box.hidden = false; }, Math.max(idle - 120000, 1000));
  }
  document.getElementById("stay-signed-in").addEventListener("click", function () {
    fetch("/api/v1/auth/me", { credentials: "same-origin" }).then(arm);
  });
  document.body.addEventListener("htmx:afterRequest", arm);
  arm();
})();
