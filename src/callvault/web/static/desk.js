// Agent desktop: state bar, wrap-up with a disposition, the offered call's masked screen pop, and the connected
// call's controls (hold, resume, hang up, transfer to a queue), fed by and sent over the agent's WebSocket.
// Customer data on this page must not leave it: the pop cannot be selected, copied or dragged, and the watermark
// (user id and the current time) is kept current. Texts come translated from the page.
(function () {
  var root = document.getElementById("desk");
  if (!root) return;
  var texts = JSON.parse(document.getElementById("page-texts").textContent);
  var errorBox = document.getElementById("desk-error");
  var offerBox = document.getElementById("offer");
  var wrapUp = document.getElementById("wrap-up");
  var controls = document.getElementById("call-controls");
  var holdButton = document.getElementById("call-hold");
  var unholdButton = document.getElementById("call-unhold");
  var queueSelect = document.getElementById("transfer-queue");
  var state = root.dataset.state;
  var since = root.dataset.since ? Date.parse(root.dataset.since) : null;
  var offeredCall = null;
  var talkingCall = root.dataset.call || null;  // the connected call the controls act on
  var pending = null;  // the call command sent and not answered yet
  var socket = null;
  // The connected call's commands and the text of each one's acknowledgement.
  var ACKS = { hold: "held", unhold: "unheld", hangup: "hung_up", transfer: "transferred" };

  function clock(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }
  function utcNow() { return new Date().toISOString().slice(0, 19).replace("T", " ") + " UTC"; }
  // One message area: refusals in the error style, call-control acknowledgements as a notice.
  function showMessage(text, kind) {
    errorBox.textContent = text;
    errorBox.className = kind === "ack" ? "notice" : "error";
    errorBox.dataset.kind = kind;
    errorBox.hidden = false;
  }
  function showError(text) { showMessage(text, "error"); }
  function problem(message) {
    return [message.title, message.detail].filter(Boolean).join(": ") || String(message.status || "");
  }

  function tick() {
    var elapsed = since === null ? "–" : clock(Date.now() - since);
    document.getElementById("desk-timer").textContent = elapsed;
    if (!wrapUp.hidden) document.getElementById("wrap-up-timer").textContent = elapsed;
    var mark = root.dataset.actor + " · " + utcNow();
    document.querySelectorAll("#watermark span").forEach(function (span) { span.textContent = mark; });
    var pop = document.getElementById("pop-watermark");
    if (pop.textContent !== mark) pop.textContent = mark;
  }

  function showState(message) {
    state = message.state;
    since = message.since ? Date.parse(message.since) : Date.now();
    root.dataset.state = state;
    var label = document.getElementById("desk-state");
    label.dataset.state = state;
    label.textContent = texts.states[state] || state;
    document.getElementById("desk-reason").textContent = message.reason || "";
    wrapUp.hidden = state !== "wrap_up";
    // Calls move the agent out of ringing, talking and wrap-up (wrap-up ends with its form), not the state bar.
    var busy = state === "ringing" || state === "talking" || state === "wrap_up";
    document.getElementById("go-ready").disabled = busy || state === "ready";
    document.getElementById("go-pause").disabled = busy || state === "paused";
    document.getElementById("go-logout").disabled = busy || state === "logged_out";
    if (state === "ready" || state === "paused" || state === "logged_out") hideOffer();
    if (state === "talking") {
      // Answered at the desk or on the phone: the offer's buttons go, the call's controls come.
      talkingCall = message.call_id || talkingCall || offeredCall;
      document.getElementById("accept").hidden = true;
      document.getElementById("reject").hidden = true;
      if (!offerBox.hidden) document.getElementById("offer-status").textContent = texts.connected;
    } else {
      talkingCall = null;
    }
    showControls();
    tick();
  }

  function showControls() {
    var shown = state === "talking" && !!talkingCall;
    // A keyboard user who ended the call goes on with its wrap-up rather than losing the focus with the controls.
    var focusMoves = !shown && controls.contains(document.activeElement);
    if (!shown) setHeld(false);
    controls.hidden = !shown;
    if (focusMoves && !wrapUp.hidden) document.getElementById("disposition").focus();
    controls.dataset.call = shown ? talkingCall : "";
    enableControls(pending === null);
  }

  // While a command waits for its answer the buttons say so but stay focusable (a disabled button would drop the
  // keyboard focus); `callCommand` ignores them meanwhile.
  function enableControls(enabled) {
    controls.setAttribute("aria-busy", enabled ? "false" : "true");
    controls.querySelectorAll("button").forEach(function (button) {
      button.setAttribute("aria-disabled", enabled ? "false" : "true");
    });
  }

  function setHeld(held) {
    // Keep the keyboard focus on the button that replaces the one that goes.
    var focusMoves = document.activeElement === (held ? holdButton : unholdButton);
    controls.dataset.held = held ? "true" : "false";
    holdButton.hidden = held;
    unholdButton.hidden = !held;
    if (focusMoves) (held ? unholdButton : holdButton).focus();
  }

  function callCommand(command) {
    if (!socket || socket.readyState !== WebSocket.OPEN || !talkingCall || pending !== null) return;
    var body = { type: command, call_id: talkingCall };
    if (command === "transfer") body.queue_id = queueSelect.value;
    pending = { command: command, queue: command === "transfer" ? queueSelect.selectedOptions[0].text : "" };
    errorBox.hidden = true;
    enableControls(false);
    active();
    socket.send(JSON.stringify(body));
  }

  function callAnswered(message) {
    var sent = pending;
    pending = null;
    enableControls(true);
    if (message.type === "error") {
      showError(texts.failed + " " + problem(message));
      return;
    }
    if (message.command === "hold") setHeld(true);
    else if (message.command === "unhold") setHeld(false);
    var text = texts[ACKS[message.command]];
    if (message.command === "transfer") text = text.replace("%(queue)s", sent ? sent.queue : "");
    showMessage(text, "ack");
  }

  function hideOffer() {
    offeredCall = null;
    offerBox.hidden = true;
    offerBox.dataset.call = "";
  }

  function showOffer(pop) {
    offeredCall = pop.call_id;
    offerBox.dataset.call = pop.call_id;
    document.getElementById("offer-status").textContent = "";
    document.getElementById("offer-queue").textContent = pop.queue;
    document.getElementById("offer-path").textContent = (pop.ivr_path || []).join(" > ");
    document.getElementById("offer-digits").textContent = (pop.digits || []).join(" ") || texts.none;
    document.getElementById("offer-lookup").textContent =
      (pop.lookup || []).map(function (pair) { return pair[0] + ": " + pair[1]; }).join("; ") || texts.none;
    var contact = pop.contact;
    document.getElementById("offer-contact").textContent = contact ? contact.name : texts.none;
    document.getElementById("offer-phones").textContent = contact
      ? contact.phones.map(function (p) { return p.number; }).join(", ")
      : texts.none;
    document.getElementById("accept").hidden = false;
    document.getElementById("reject").hidden = false;
    offerBox.hidden = false;
  }

  function send(command) {
    if (!socket || !offeredCall) return;
    socket.send(JSON.stringify({ type: command, call_id: offeredCall }));
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + root.dataset.ws);
    socket.addEventListener("open", function () { root.dataset.channel = "open"; errorBox.hidden = true; });
    socket.addEventListener("message", function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "state") showState(message);
      else if (message.type === "offer") showOffer(message);
      else if (message.type === "offer_withdrawn") {
        hideOffer();
        showError(texts.withdrawn);
      } else if (message.type === "ack" && message.command === "accept") {
        document.getElementById("offer-status").textContent = texts.connected;
        document.getElementById("accept").hidden = true;
        document.getElementById("reject").hidden = true;
      } else if ((message.type === "ack" || message.type === "error") && ACKS.hasOwnProperty(message.command)) {
        callAnswered(message);
      } else if (message.type === "error") {
        showError(texts.failed + " " + problem(message));
      }
    });
    socket.addEventListener("close", function (event) {
      root.dataset.channel = "closed";
      if (pending !== null) { pending = null; enableControls(true); }  // no answer will come on this channel
      if (event.code === 4401) { window.location.assign("/login"); return; }
      showError(texts.disconnected);
      setTimeout(connect, 3000);
    });
  }

  function active() { document.body.dispatchEvent(new Event("callvault:activity")); }

  function post(url, body) {
    errorBox.hidden = true;
    active();
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": root.dataset.csrf, "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (response.ok) showState(data);
        else showError(texts.failed + " " + (data.detail || data.title || response.status));
      });
    }).catch(function () { showError(texts.failed); });
  }

  ["go-ready", "go-pause", "go-logout"].forEach(function (id) {
    document.getElementById(id).addEventListener("click", function (event) {
      var body = { state: event.currentTarget.dataset.state };
      if (body.state === "paused") body.reason = document.getElementById("pause-reason").value;
      post("/api/v1/agents/me/state", body);
    });
  });
  wrapUp.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = {
      disposition: document.getElementById("disposition").value,
      then: document.getElementById("wrap-up-then").value
    };
    if (body.then === "paused") body.reason = document.getElementById("wrap-up-reason").value;
    post("/api/v1/agents/me/wrap-up", body).then(function () { document.getElementById("disposition").value = ""; });
  });
  document.getElementById("accept").addEventListener("click", function () { send("accept"); });
  document.getElementById("reject").addEventListener("click", function () { send("reject"); });
  controls.querySelectorAll("button[data-command]").forEach(function (button) {
    button.addEventListener("click", function (event) { callCommand(event.currentTarget.dataset.command); });
  });

  // No copy or export of customer data from the pop: selection is off in CSS, and these block the rest.
  ["copy", "cut", "dragstart", "contextmenu", "selectstart"].forEach(function (name) {
    offerBox.addEventListener(name, function (event) { event.preventDefault(); });
  });

  showState({ state: state, since: root.dataset.since || null, reason: document.getElementById("desk-reason").textContent });
  setInterval(tick, 1000);
  // The server checks the session of an open channel regularly and counts it as activity: an agent waiting for
  // calls is not signed out for idleness while the channel is open.
  setInterval(function () { if (socket && socket.readyState === WebSocket.OPEN) active(); }, 30000);
  connect();
})();
