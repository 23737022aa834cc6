/* The resident's chat window: speaks the /chat/ws protocol, keeps the session token, resends
   unacknowledged messages after a reconnect (the server stores a client id once). */
(function () {
  "use strict";
  var TEXTS = {
    az: { title: "Onlayn müraciət", name: "Adınız (istəyə bağlı)", placeholder: "Mesajınızı yazın",
          send: "Göndər", online: "Qoşuldu", offline: "Bağlantı yoxdur, yenidən qoşulur…",
          language: "Dil",
          privacy: "FİN və ya şəxsiyyət vəsiqəsi nömrəsini yalnız əməkdaş istədikdə yazın." },
    ru: { title: "Онлайн-обращение", name: "Ваше имя (необязательно)", placeholder: "Напишите сообщение",
          send: "Отправить", online: "Подключено", offline: "Нет связи, переподключение…",
          language: "Язык",
          privacy: "Указывайте ФИН или номер удостоверения личности только по просьбе сотрудника." },
    en: { title: "Online request", name: "Your name (optional)", placeholder: "Write your message",
          send: "Send", online: "Connected", offline: "Offline, reconnecting…",
          language: "Language",
          privacy: "Give your FIN or ID card number only when an officer asks for it." }
  };
  var root = document.querySelector(".chat");
  var list = document.getElementById("messages");
  var statusLine = document.getElementById("status");
  var errorLine = document.getElementById("error");
  var nameInput = document.getElementById("name");
  var textInput = document.getElementById("text");
  var languageSelect = document.getElementById("language");
  var store = window.localStorage;
  var language = store.getItem("cc.language") || root.dataset.language || "az";
  var pending = {};   // client id -> text, until acknowledged
  var shown = {};     // message id -> true, so a replayed or repeated frame shows once
  var socket = null;
  var retry = 500;

  function t(key) { return (TEXTS[language] || TEXTS.az)[key]; }

  function applyLanguage() {
    document.documentElement.lang = language;
    languageSelect.value = language;
    document.querySelectorAll("[data-text]").forEach(function (el) {
      el.textContent = t(el.dataset.text);
    });
    textInput.placeholder = t("placeholder");
    statusLine.textContent = socket && socket.readyState === 1 ? t("online") : t("offline");
  }

  function newId() {
    return (window.crypto && crypto.randomUUID) ? crypto.randomUUID()
      : Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function render(message, clientId) {
    if (message && message.id && shown[message.id]) return;
    var item = clientId ? document.querySelector('[data-client-id="' + clientId + '"]') : null;
    if (!item) {
      item = document.createElement("li");
      list.appendChild(item);
    }
    item.className = message.direction === "in" ? "in" : "out";
    if (!message.id) item.classList.add("pending");
    item.textContent = message.body;
    if (clientId) item.dataset.clientId = clientId;
    if (message.id) { shown[message.id] = true; item.dataset.messageId = message.id; }
    if (message.created_at) {
      var time = document.createElement("time");
      time.dateTime = message.created_at;
      time.textContent = new Date(message.created_at).toLocaleTimeString(language,
        { hour: "2-digit", minute: "2-digit" });
      item.appendChild(time);
    }
    list.scrollTop = list.scrollHeight;
  }

  // The window says hello as it opens, before the resident has typed a name: every message
  // carries the name typed by then, so the agent learns it.
  function sendMessage(id, text) {
    send({ type: "message", id: id, text: text, name: nameInput.value.trim() || null });
  }

  function send(frame) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(frame));
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    // The language in the address lets the server refuse a window (too many open) in it.
    socket = new WebSocket(scheme + location.host + "/chat/ws?lang=" + encodeURIComponent(language));
    socket.onopen = function () {
      send({ type: "hello", session: store.getItem("cc.session"),
             name: nameInput.value || store.getItem("cc.name") || null, language: language });
    };
    socket.onmessage = function (event) {
      var frame = JSON.parse(event.data);
      if (frame.type === "welcome") {
        retry = 500;   // only once the server took us in: a refused window backs off
        store.setItem("cc.session", frame.session);
        statusLine.textContent = t("online");
        list.textContent = "";
        shown = {};
        frame.history.forEach(function (m) { render(m); });
        Object.keys(pending).forEach(function (id) {
          render({ direction: "in", body: pending[id] }, id);
          sendMessage(id, pending[id]);
        });
      } else if (frame.type === "ack") {
        var text = pending[frame.id];
        delete pending[frame.id];
        if (text !== undefined) {
          render({ id: frame.message_id, direction: "in", body: text,
                   created_at: new Date().toISOString() }, frame.id);
        }
      } else if (frame.type === "message") {
        render(frame.message);
      } else if (frame.type === "error") {
        errorLine.textContent = frame.error;
        errorLine.hidden = false;
        if (frame.id && pending[frame.id] !== undefined) delete pending[frame.id];
      }
    };
    socket.onclose = function () {
      statusLine.textContent = t("offline");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }

  document.getElementById("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = textInput.value.trim();
    if (!text) return;
    errorLine.hidden = true;
    var id = newId();
    pending[id] = text;
    if (nameInput.value) store.setItem("cc.name", nameInput.value);
    render({ direction: "in", body: text }, id);
    sendMessage(id, text);
    textInput.value = "";
  });
  textInput.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      document.getElementById("composer").requestSubmit();
    }
  });
  languageSelect.addEventListener("change", function () {
    language = languageSelect.value;
    store.setItem("cc.language", language);
    applyLanguage();
    if (socket) socket.close();
  });
  nameInput.value = store.getItem("cc.name") || "";
  applyLanguage();
  connect();
})();
