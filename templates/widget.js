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

  var host = document.createElement("div");
  host.id = "contact-centre-chat";
  var shadow = host.attachShadow({ mode: "closed" });
  var style = document.createElement("style");
  style.textContent =
    ":host{all:initial}" +
    ".button{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;" +
    "border:2px solid #fff;background:#0b5cab;color:#fff;font:26px/1 system-ui,sans-serif;" +
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
  button.innerHTML = '<span aria-hidden="true">💬</span>';
  shadow.appendChild(style);
  shadow.appendChild(button);
  var frame = null;

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
      frame.addEventListener("load", function () { setOpen(!frame.hidden); });
      shadow.appendChild(frame);
      return;
    }
    setOpen(frame.hidden);
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== chatOrigin || !frame || event.source !== frame.contentWindow) return;
    if (event.data && event.data.type === "cc-chat-close") {
      setOpen(false);
      button.focus();
    }
  });
  (document.body || document.documentElement).appendChild(host);
})();
