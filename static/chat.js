/* The resident's chat window (the /chat page, and the widget's frame): speaks the /chat/ws
   protocol (docs/websocket.md), keeps the session token in the browser's storage, resumes
   after a lost connection from the last message it showed, resends unacknowledged messages
   (the server stores a client id once). Texts come from templates/chat/texts.yaml. */
(function () {
  "use strict";
  var SETTINGS = JSON.parse(document.getElementById("chat-settings").textContent);
  var TEXTS = SETTINGS.texts;
  var TYPING_EVERY_MS = 2000;     // the resident's typing, at most this often
  var AGENT_TYPING_MS = 6000;     // how long an agent's typing shows without a new signal
  var root = document.querySelector(".chat");
  var $ = function (id) { return document.getElementById(id); };
  var list = $("messages"), log = $("log"), statusLine = $("status"), errorLine = $("error");
  var textInput = $("text"), composer = $("composer"), prechat = $("prechat");
  var languageSelect = $("language"), typingLine = $("typing"), resolvedBox = $("resolved");
  var availabilityLine = $("availability"), fileInput = $("file");
  var embedded = document.body.classList.contains("embedded");
  var KEYS = ["cc.session", "cc.language", "cc.name", "cc.prechat"];
  var store = storage();
  var language = root.dataset.language || "az";
  var pending = {};      // client id -> {text, uploads}, until acknowledged
  var shown = {};        // message id -> true, so a replayed or repeated frame shows once
  var lastId = null;     // the last message id this page showed: a reconnect resumes after it
  var socket = null, retry = 500, welcomed = false;
  var state = { availability: { online: true }, prechat: {}, conversation: null };
  var needsContact = false;   // the next message opens a conversation and carries the contact
  var upload = null;          // {id, filename} of the file attached to the next message
  var typedAt = 0, agentTypingTimer = null, open = !embedded;
  var unread = [];            // replies shown while the window was closed: read once it opens

  // The session token and choices live in the browser's storage. A frame on another site
  // may not have storage of its own (third-party storage is blocked by many browsers): the
  // widget keeps them in the host page's storage and hands them over when the frame loads.
  function storage() {
    var memory = {}, parentOrigin = null;
    if (!embedded) {
      try { KEYS.forEach(function (k) { var v = localStorage.getItem(k); if (v !== null) memory[k] = v; }); }
      catch (e) { /* no storage: this page's life only */ }
    }
    return {
      getItem: function (k) { return Object.prototype.hasOwnProperty.call(memory, k) ? memory[k] : null; },
      setItem: function (k, v) {
        memory[k] = String(v);
        if (embedded) {
          if (parentOrigin) window.parent.postMessage({ type: "cc-chat-store", key: k, value: memory[k] }, parentOrigin);
        } else {
          try { localStorage.setItem(k, memory[k]); } catch (e) { /* kept in memory */ }
        }
      },
      seed: function (values, origin) {
        parentOrigin = origin;
        KEYS.forEach(function (k) { if (typeof values[k] === "string") memory[k] = values[k]; });
      }
    };
  }

  function t(key) { return (TEXTS[language] || TEXTS.az)[key]; }

  function applyLanguage() {
    document.documentElement.lang = language;
    languageSelect.value = language;
    document.querySelectorAll("[data-text]").forEach(function (el) {
      el.textContent = t(el.dataset.text);
    });
    document.querySelectorAll("[data-label]").forEach(function (el) {
      el.setAttribute("aria-label", t(el.dataset.label));
      if (el.tagName === "BUTTON") el.title = t(el.dataset.label);
    });
    textInput.placeholder = t("placeholder");
    statusLine.textContent = socket && socket.readyState === 1 ? t("online") : t("offline");
    showAvailability();
  }

  function showAvailability() {
    var a = state.availability;
    var offline = a && a.online === false;
    availabilityLine.hidden = !offline;
    if (offline) {
      availabilityLine.textContent = t(a.reason === "closed" ? "offline_closed" : "offline_no_agent")
        .replace("{hours}", SETTINGS.hours);
    }
    var required = offline || Boolean(state.prechat.contact_required);
    $("contact-hint").textContent = t(required ? "contact_needed" : "contact_optional");
    $("phone").required = $("email").required = false;   // either one: checked on submit
    var link = $("privacy-link");
    link.hidden = !state.prechat.privacy_url;
    if (state.prechat.privacy_url) link.href = state.prechat.privacy_url;
  }

  function newId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function render(message, clientId) {
    if (message && message.id && shown[message.id]) return;
    var item = clientId ? list.querySelector('[data-client-id="' + clientId + '"]') : null;
    if (!item) {
      item = document.createElement("li");
      list.appendChild(item);
    }
    item.textContent = "";
    item.className = message.direction === "in" ? "in" : "out";
    if (!message.id) item.classList.add("pending");
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = (message.direction === "in" ? t("you") : t("officer")) + ": ";
    item.appendChild(who);
    if (message.body) item.appendChild(document.createTextNode(message.body));
    (message.attachments || []).forEach(function (a) {
      // A file the officer sent opens by its signed link (the server's own, relative).
      var link = typeof a.url === "string" && a.url.indexOf("/media/") === 0;
      var chip = document.createElement(link ? "a" : "span");
      if (link) {
        chip.href = a.url;
        chip.target = "_blank";
        chip.rel = "noopener noreferrer";
      }
      chip.className = "file";
      chip.textContent = t("attachment") + ": " + (a.filename || "");
      item.appendChild(chip);
    });
    if (message.choices && message.choices.length) {
      // Answers to pick (a rating, the intake's question): pressing one sends it as the
      // resident's message. A replayed question carries them only while it still waits.
      var choices = document.createElement("div");
      choices.className = "choices";
      message.choices.forEach(function (choice) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = choice;
        button.addEventListener("click", function () {
          textInput.value = choice;
          composer.requestSubmit();
        });
        choices.appendChild(button);
      });
      item.appendChild(choices);
    }
    if (clientId) item.dataset.clientId = clientId;
    if (message.id) {
      shown[message.id] = true;
      item.dataset.messageId = message.id;
      if (lastId === null || message.id > lastId) lastId = message.id;
    }
    var meta = document.createElement("span");
    meta.className = "meta";
    if (message.created_at) {
      var time = document.createElement("time");
      time.dateTime = message.created_at;
      time.textContent = new Date(message.created_at).toLocaleTimeString(language,
        { hour: "2-digit", minute: "2-digit" });
      meta.appendChild(time);
    }
    if (message.direction === "in") {
      var status = document.createElement("span");
      status.className = "state";
      status.textContent = message.id ? t("sent") : t("sending");
      meta.appendChild(status);
    }
    item.appendChild(meta);
    if (message.direction === "out" && message.id) {
      unread.push(message.id);
      markRead();
    }
    log.scrollTop = log.scrollHeight;
  }

  // Read receipts: a reply counts as read once the window showing it is open and visible.
  function markRead() {
    if (!open || document.visibilityState !== "visible") return;
    unread.splice(0).forEach(function (id) { send({ type: "read", message_id: id }); });
  }

  function contact() {
    var phone = $("phone").value.trim(), email = $("email").value.trim();
    return phone || email ? { phone: phone || null, email: email || null } : null;
  }

  // Whatever the resident sends answers the question on screen: its buttons, and any
  // earlier ones, are spent (the server would take a second press as a new message).
  function spendChoices() {
    list.querySelectorAll(".choices button").forEach(function (button) { button.disabled = true; });
  }

  function sendMessage(id, entry) {
    var frame = { type: "message", id: id, text: entry.text,
                  name: $("name").value.trim() || null };
    if (entry.uploads.length) frame.attachments = entry.uploads;
    if (entry.contact) frame.contact = entry.contact;
    send(frame);
  }

  function send(frame) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame));
  }

  function showError(text) {
    errorLine.textContent = text;
    errorLine.hidden = false;
  }

  function setConversation(conversation) {
    state.conversation = conversation;
    var closed = Boolean(conversation && conversation.status === "resolved");
    resolvedBox.hidden = !closed;
    composer.hidden = closed || !prechat.hidden;
    if (closed) typingLine.hidden = true;
  }

  function showPrechat(show) {
    prechat.hidden = !show;
    composer.hidden = show || Boolean(state.conversation && state.conversation.status === "resolved");
    needsContact = show || needsContact;
  }

  // Where the keyboard starts when the window opens: the form, the composer, or the offer
  // of a new conversation.
  function focusFirst() {
    if (!open) return;
    if (!prechat.hidden) $("name").focus();
    else if (!composer.hidden) textInput.focus();
    else if (!resolvedBox.hidden) $("new-conversation").focus();
  }

  function welcome(frame) {
    var first = !welcomed;
    var resuming = welcomed && frame.after !== undefined;
    welcomed = true;
    retry = 500;   // only once the server took us in: a refused window backs off
    store.setItem("cc.session", frame.session);
    state.availability = frame.availability || { online: true };
    state.prechat = frame.prechat || {};
    statusLine.textContent = t("online");
    if (!resuming) { list.textContent = ""; shown = {}; lastId = null; }
    frame.history.forEach(function (m) { render(m); });
    setConversation(frame.conversation);
    // The notice of a resolved conversation takes room from the list: its last message (a
    // rating's buttons) stays in view.
    log.scrollTop = log.scrollHeight;
    if (!frame.conversation && !store.getItem("cc.prechat")) showPrechat(true);
    else if (!frame.conversation) needsContact = true;
    showAvailability();
    if (first && embedded) focusFirst();
    Object.keys(pending).forEach(function (id) {
      render({ direction: "in", body: pending[id].text }, id);
      sendMessage(id, pending[id]);
    });
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    // The language in the address lets the server refuse a window (too many open) in it.
    socket = new WebSocket(scheme + location.host + "/chat/ws?lang=" + encodeURIComponent(language));
    socket.onopen = function () {
      send({ type: "hello", session: store.getItem("cc.session"),
             name: $("name").value || store.getItem("cc.name") || null, language: language,
             after: welcomed ? lastId : null });
    };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "welcome") {
        welcome(frame);
      } else if (frame.type === "ack") {
        var entry = pending[frame.id];
        delete pending[frame.id];
        if (entry !== undefined) {
          needsContact = false;
          // A message opens a new conversation, but a rating answers the resolved one.
          var resolved = state.conversation && state.conversation.status === "resolved";
          if (resolved && !frame.survey_answer) setConversation(null);
          render({ id: frame.message_id, direction: "in", body: entry.text,
                   attachments: entry.files, created_at: new Date().toISOString() }, frame.id);
        }
      } else if (frame.type === "message") {
        typingLine.hidden = true;
        render(frame.message);
      } else if (frame.type === "typing") {
        typingLine.hidden = false;
        clearTimeout(agentTypingTimer);
        agentTypingTimer = setTimeout(function () { typingLine.hidden = true; }, AGENT_TYPING_MS);
      } else if (frame.type === "conversation") {
        setConversation({ id: frame.conversation_id, status: frame.status });
        if (frame.status === "resolved") $("new-conversation").focus();
      } else if (frame.type === "error") {
        showError(frame.error);
        if (frame.id && pending[frame.id] !== undefined) delete pending[frame.id];
      }
    };
    socket.onclose = function () {
      statusLine.textContent = t("offline");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  prechat.addEventListener("submit", function (event) {
    event.preventDefault();
    var problem = null;
    var required = state.availability.online === false || state.prechat.contact_required;
    if (!$("consent").checked) problem = t("consent_needed");
    else if (required && !contact()) problem = t("contact_needed");
    var box = $("prechat-error");
    box.hidden = !problem;
    box.textContent = problem || "";
    if (problem) return;
    store.setItem("cc.prechat", "1");
    if ($("name").value) store.setItem("cc.name", $("name").value);
    showPrechat(false);
    needsContact = true;
    textInput.focus();
  });

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = textInput.value.trim();
    if (!text && !upload) return;
    errorLine.hidden = true;
    var id = newId();
    var entry = { text: text, uploads: upload ? [upload.id] : [],
                  files: upload ? [{ filename: upload.filename }] : [],
                  contact: needsContact ? contact() : null };
    pending[id] = entry;
    spendChoices();
    render({ direction: "in", body: text, attachments: entry.files }, id);
    sendMessage(id, entry);
    textInput.value = "";
    setUpload(null);
  });
  textInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  textInput.addEventListener("input", function () {
    var now = Date.now();
    if (now - typedAt >= TYPING_EVERY_MS) { typedAt = now; send({ type: "typing" }); }
  });

  function setUpload(value) {
    upload = value;
    $("attachment").hidden = !value;
    $("attachment-name").textContent = value ? t("attachment") + ": " + value.filename : "";
  }
  $("attach").addEventListener("click", function () { fileInput.click(); });
  $("attachment-remove").addEventListener("click", function () { setUpload(null); $("attach").focus(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    errorLine.hidden = true;
    $("attachment").hidden = false;
    $("attachment-name").textContent = t("uploading");
    fetch("/chat/upload?lang=" + language, {
      method: "POST", body: file,
      headers: { "Content-Type": file.type || "application/octet-stream",
                 "X-Chat-Session": store.getItem("cc.session") || "",
                 "X-Filename": encodeURIComponent(file.name) }
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error || t("attachment"));
        setUpload({ id: body.upload, filename: body.filename });
        textInput.focus();
      });
    }).catch(function (error) {
      setUpload(null);
      showError(error.message);
    });
  });

  $("new-conversation").addEventListener("click", function () {
    list.textContent = "";
    shown = {};
    setConversation(null);
    needsContact = true;
    if (state.availability.online === false || state.prechat.contact_required) showPrechat(true);
    else textInput.focus();
  });
  languageSelect.addEventListener("change", function () {
    language = languageSelect.value;
    store.setItem("cc.language", language);
    applyLanguage();
    send({ type: "hello", session: store.getItem("cc.session"), language: language,
           name: $("name").value.trim() || store.getItem("cc.name") || null, after: lastId });
  });

  // In the widget's frame: the host page says when the window opens and closes; Escape and
  // the close button ask it to close (it gives focus back to its button).
  if (embedded) {
    window.addEventListener("message", function (event) {
      if (event.source !== window.parent || !event.data) return;
      if (event.data.type === "cc-chat-init" && !socket) {
        store.seed(event.data.storage || {}, event.origin);
        start();
        return;
      }
      if (event.data.type !== "cc-chat") return;
      open = Boolean(event.data.open);
      if (open) { markRead(); focusFirst(); }
    });
    var close = function () { window.parent.postMessage({ type: "cc-chat-close" }, "*"); };
    $("close").addEventListener("click", close);
    document.addEventListener("keydown", function (event) { if (event.key === "Escape") close(); });
  }
  document.addEventListener("visibilitychange", markRead);

  function start() {
    language = store.getItem("cc.language") || language;
    $("name").value = store.getItem("cc.name") || "";
    applyLanguage();
    connect();
  }
  applyLanguage();
  if (!embedded) start();
})();
