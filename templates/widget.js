/* Contact-centre chat widget: add <script src=".../chat/widget.js" async></script> to a page of
   a site listed in channels.webchat.allowed_origins. The chat runs in a frame of its own
   origin, so the host page's CSS and scripts cannot reach it, nor it theirs; the button
   lives in a shadow root with its own styles. The chat page refuses to be framed by any
   other site (Content-Security-Policy frame-ancestors). */
(function () {
  "use strict";
  if (window.__contactCentreChat) return;
  window.__contactCentreChat = true;
  var chatUrl = {{ chat_url | tojson }};
  var texts = {{ texts | tojson }};
  var allowed = {{ allowed_origins | tojson }};
  var chatOrigin = new URL(chatUrl).origin;
  if (location.origin !== chatOrigin && allowed.indexOf(location.origin) < 0) {
    console.warn("contact-centre chat: " + location.origin + " is not in channels.webchat.allowed_origins");
    return;
  }
  // The chat speaks the host page's language when it has it, else the browser's.
  var lang = "az";
  [document.documentElement.lang].concat(navigator.languages || [navigator.language])
    .some(function (tag) {
      var code = String(tag || "").slice(0, 2).toLowerCase();
      if (texts[code]) { lang = code; return true; }
      return false;
    });
  var t = texts[lang];

  // A custom element: a host page's rules for div, button or iframe do not reach it.
  var host = document.createElement("contact-centre-chat");
  var shadow = host.attachShadow({ mode: "open" });
  var style = document.createElement("style");
  style.textContent =
    ":host{all:initial;display:block}" +
    ".button{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;" +
    "border:2px solid #fff;background:#0b5cab;color:#fff;display:flex;align-items:center;justify-content:center;" +
    "box-shadow:0 2px 8px rgba(0,0,0,.3);cursor:pointer;z-index:2147483000;padding:0}" +
    ".button:focus-visible{outline:3px solid #b3541e;outline-offset:3px}" +
    "iframe{position:fixed;right:20px;bottom:88px;width:380px;height:600px;" +
    "max-width:calc(100vw - 40px);max-height:calc(100vh - 120px);border:0;border-radius:12px;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.3);z-index:2147483000;background:#fff}" +
    "iframe[hidden]{display:none}" +
    "@media (max-width:480px){iframe{right:0;bottom:0;width:100vw;height:100vh;" +
    "height:100dvh;max-width:none;max-height:none;border-radius:0}}";
  var button = document.createElement("button");
  button.type = "button";
  button.className = "button";
  button.setAttribute("aria-label", t.open_chat);
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-haspopup", "dialog");
  button.innerHTML = '<svg aria-hidden="true" focusable="false" width="28" height="28" ' +
    'viewBox="0 0 24 24" fill="currentColor"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 ' +
    '2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z"/></svg>';
  shadow.appendChild(style);
  shadow.appendChild(button);
  var frame = null;
  // The chat frame's storage, kept here in the host page's (a frame of another site may
  // have none): only its own keys, handed only to the chat's origin.
  var KEYS = ["cc.session", "cc.language", "cc.name", "cc.prechat"];
  var PREFIX = "contact-centre-chat:";
  function saved() {
    var values = {};
    try {
      KEYS.forEach(function (k) {
        var v = localStorage.getItem(PREFIX + k);
        if (v !== null) values[k] = v;
      });
    } catch (e) { /* no storage on this page: the chat lasts as long as the page */ }
    return values;
  }

  function setOpen(open) {
    frame.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    button.setAttribute("aria-label", open ? t.close_chat : t.open_chat);
    frame.contentWindow.postMessage({ type: "cc-chat", open: open }, chatOrigin);
    if (open) frame.focus();
  }

  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = chatUrl + "?embed=1&lang=" + lang;
      frame.title = t.title;
      frame.setAttribute("allow", "camera");
      frame.addEventListener("load", function () {
        frame.contentWindow.postMessage({ type: "cc-chat-init", storage: saved() }, chatOrigin);
        setOpen(!frame.hidden);
      });
      shadow.appendChild(frame);
      return;
    }
    setOpen(frame.hidden);
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== chatOrigin || !frame || event.source !== frame.contentWindow) return;
    if (!event.data) return;
    if (event.data.type === "cc-chat-close") {
      setOpen(false);
      button.focus();
    } else if (event.data.type === "cc-chat-store" && KEYS.indexOf(event.data.key) >= 0) {
      try { localStorage.setItem(PREFIX + event.data.key, String(event.data.value)); } catch (e) { /* none */ }
    }
  });
  (document.body || document.documentElement).appendChild(host);
})();
