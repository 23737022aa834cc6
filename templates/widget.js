/* Contact-centre chat widget: add <script src=".../chat/widget.js" async></script> to a page. */
(function () {
  if (window.__contactCentreChat) return;
  window.__contactCentreChat = true;
  var chatUrl = {{ chat_url | tojson }};
  // The chat speaks the host page's language when it has it, else the browser's; with
  // neither, /chat goes by the browser's Accept-Language.
  var lang = null;
  [document.documentElement.lang].concat(navigator.languages || [navigator.language])
    .some(function (tag) {
      var code = String(tag || "").slice(0, 2).toLowerCase();
      if (["az", "ru", "en"].indexOf(code) >= 0) { lang = code; return true; }
      return false;
    });
  var button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", "Chat");
  button.textContent = "💬";
  button.style.cssText = "position:fixed;right:20px;bottom:20px;width:56px;height:56px;" +
    "border-radius:50%;border:0;background:#0b5cab;color:#fff;font-size:26px;" +
    "box-shadow:0 2px 8px rgba(0,0,0,.3);cursor:pointer;z-index:2147483000";
  var frame = null;
  button.addEventListener("click", function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = chatUrl + "?embed=1" + (lang ? "&lang=" + lang : "");
      frame.title = "Chat";
      frame.style.cssText = "position:fixed;right:20px;bottom:88px;width:360px;height:520px;" +
        "max-width:calc(100vw - 40px);max-height:calc(100vh - 120px);border:0;" +
        "border-radius:12px;box-shadow:0 4px 16px rgba(0,0,0,.3);z-index:2147483000;" +
        "background:#fff";
      document.body.appendChild(frame);
    } else {
      frame.hidden = !frame.hidden;
    }
  });
  document.body.appendChild(button);
})();
