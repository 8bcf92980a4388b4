// List import: the file goes straight to the streaming import API (the page's session and CSRF token), then the
// browser follows the job's progress page. No inline script: the Content-Security-Policy allows only 'self'.
(function () {
  var form = document.getElementById("import-form");
  if (!form) return;
  var error = document.getElementById("import-error");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var button = document.getElementById("import-submit");
    button.disabled = true;
    error.hidden = true;
    var body = new FormData();
    body.append("file", document.getElementById("import-file").files[0]);
    body.append("purpose", document.getElementById("import-purpose").value);
    // A saved template (by id) maps the columns; without one the server guesses from the header.
    var mapping = document.getElementById("import-mapping");
    if (mapping && mapping.value) body.append("mapping_template_id", mapping.value);
    fetch(form.dataset.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": form.dataset.csrf, "Accept": "application/json" },
      body: body
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (result) {
      if (result.ok) {
        window.location.assign("/console/imports/" + result.data.id);
        return;
      }
      error.textContent = form.dataset.failed + " " + (result.data.detail || result.data.title || "");
      error.hidden = false;
      button.disabled = false;
    }).catch(function () {
      error.textContent = form.dataset.failed;
      error.hidden = false;
      button.disabled = false;
    });
  });
})();
