// Wallboard: queue and agent figures kept live from the statistics stream (server-sent events). Rows are updated
// in place so a supervisor's half-filled "force state" form survives the next snapshot. Texts come translated
// from the page (the catalogs); no inline script (the Content-Security-Policy allows only 'self').
(function () {
  var root = document.getElementById("wallboard");
  if (!root) return;
  var texts = JSON.parse(document.getElementById("page-texts").textContent);
  var names = JSON.parse(document.getElementById("wallboard-names").textContent);
  var canForce = root.dataset.canForce === "true";
  var errorBox = document.getElementById("wallboard-error");
  var noticeBox = document.getElementById("wallboard-notice");
  var order = Object.keys(texts.states);
  var timers = {};  // agent id -> {base seconds, received at}

  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function secs(v) { return v === null || v === undefined ? "–" : Number(v).toFixed(1); }
  function clock(s) {
    if (s === null || s === undefined || isNaN(s)) return "–";
    s = Math.floor(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" : "") + (m < 10 && h ? "0" : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }
  function cell(row, cls, text) {
    var td = row.querySelector("." + cls);
    if (td.textContent !== text) td.textContent = text;
  }
  function clearEmpty(body) {
    var empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
  }
  function newRow(attr, id, classes) {
    var tr = document.createElement("tr");
    tr.setAttribute(attr, id);
    classes.forEach(function (c) {
      var td = document.createElement("td");
      td.className = c;
      tr.appendChild(td);
    });
    return tr;
  }

  function showQueues(queues) {
    var body = document.querySelector("#queues tbody");
    if (queues.length) clearEmpty(body);
    var seen = {};
    queues.forEach(function (q) {
      seen[q.queue_id] = true;
      var tr = body.querySelector('tr[data-queue="' + q.queue_id + '"]');
      if (!tr) {
        tr = newRow("data-queue", q.queue_id,
          ["q-name", "num q-waiting", "num q-longest", "num q-sl", "num q-asa", "num q-abandon"]);
      }
      body.appendChild(tr);  // keeps the snapshot's order (by name)
      cell(tr, "q-name", q.name);
      cell(tr, "q-waiting", String(q.calls_waiting));
      cell(tr, "q-longest", secs(q.longest_wait_seconds));
      cell(tr, "q-sl", pct(q.service_level));
      cell(tr, "q-asa", secs(q.asa_seconds));
      cell(tr, "q-abandon", pct(q.abandon_rate));
    });
    body.querySelectorAll("tr[data-queue]").forEach(function (tr) {
      if (!seen[tr.dataset.queue]) tr.remove();
    });
  }

  function addForceForm(tr, agentId) {
    var td = tr.querySelector(".a-force");
    if (!td || td.firstChild) return;
    var forms = document.getElementById("force-template").content.cloneNode(true);
    var form = forms.querySelector(".force-form");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      forceState(agentId, form);
    });
    var monitor = forms.querySelector(".monitor-form");
    monitor.addEventListener("submit", function (event) {
      event.preventDefault();
      post("/api/v1/agents/" + agentId + "/monitor", { mode: monitor.elements.mode.value }, texts.monitoring);
    });
    td.appendChild(forms);
  }

  function forceState(agentId, form) {
    var body = { state: form.elements.state.value };
    if (body.state === "paused") body.reason = form.elements.reason.value;
    post("/api/v1/agents/" + agentId + "/state", body, null);
  }

  // A supervisor's request; `done` (if any) is shown once it was accepted (e.g. "your phone rings").
  function post(url, body, done) {
    document.body.dispatchEvent(new Event("callvault:activity"));
    errorBox.hidden = true;
    noticeBox.hidden = true;
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.dataset.csrf, "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (response.ok) {
        if (done) { noticeBox.textContent = done; noticeBox.hidden = false; }
        return;
      }
      return response.json().then(function (problem) {
        errorBox.textContent = texts.failed + " " + (problem.detail || problem.title || response.status);
        errorBox.hidden = false;
      });
    }).catch(function () {
      errorBox.textContent = texts.failed;
      errorBox.hidden = false;
    });
  }

  function showAgents(agents) {
    var body = document.querySelector("#agents tbody");
    if (agents.length) clearEmpty(body);
    var counts = {};
    order.forEach(function (s) { counts[s] = 0; });
    var now = Date.now();
    var sorted = agents.slice().sort(function (a, b) { return order.indexOf(a.state) - order.indexOf(b.state); });
    var seen = {};
    sorted.forEach(function (a) {
      seen[a.agent_id] = true;
      counts[a.state] = (counts[a.state] || 0) + 1;
      var tr = body.querySelector('tr[data-agent="' + a.agent_id + '"]');
      if (!tr) {
        var classes = ["a-name", "a-state", "a-reason", "num a-time", "num a-handled"];
        if (canForce) classes.push("a-force");
        tr = newRow("data-agent", a.agent_id, classes);
      }
      body.appendChild(tr);
      cell(tr, "a-name", names[a.agent_id] || a.agent_id.slice(0, 8));
      var stateCell = tr.querySelector(".a-state");
      stateCell.dataset.state = a.state;
      cell(tr, "a-state", texts.states[a.state] || a.state);
      cell(tr, "a-reason", a.reason || "");
      cell(tr, "a-handled", String(a.calls_handled_today));
      timers[a.agent_id] = { base: a.seconds_in_state, at: now };
      if (canForce) addForceForm(tr, a.agent_id);
    });
    body.querySelectorAll("tr[data-agent]").forEach(function (tr) {
      if (!seen[tr.dataset.agent]) tr.remove();
    });
    document.querySelectorAll("#state-counts [data-count]").forEach(function (badge) {
      badge.querySelector("b").textContent = String(counts[badge.dataset.count] || 0);
    });
    tick();
  }

  // Time in state runs on between snapshots (the stream only speaks when something changes).
  function tick() {
    var now = Date.now();
    document.querySelectorAll("#agents tr[data-agent]").forEach(function (tr) {
      var t = timers[tr.dataset.agent];
      cell(tr, "a-time", t && t.base !== null ? clock(t.base + (now - t.at) / 1000) : "–");
    });
  }

  // The rows the server rendered: their time in state and force forms.
  document.querySelectorAll("#agents tr[data-agent]").forEach(function (tr) {
    var raw = tr.querySelector(".a-time").dataset.seconds;
    timers[tr.dataset.agent] = { base: raw === "" ? null : parseFloat(raw), at: Date.now() };
    if (canForce) addForceForm(tr, tr.dataset.agent);
  });
  tick();
  setInterval(tick, 1000);

  var source = new EventSource(root.dataset.stream, { withCredentials: true });
  source.addEventListener("stats", function (event) {
    var snap = JSON.parse(event.data);
    showQueues(snap.queues);
    showAgents(snap.agents);
    document.getElementById("wallboard-at").textContent = snap.at.slice(0, 19).replace("T", " ");
    root.dataset.updates = String(parseInt(root.dataset.updates || "0", 10) + 1);
    if (errorBox.dataset.stream === "down") { errorBox.hidden = true; errorBox.dataset.stream = ""; }
  });
  source.addEventListener("error", function () {
    errorBox.textContent = texts.disconnected;
    errorBox.dataset.stream = "down";
    errorBox.hidden = false;
  });
})();
