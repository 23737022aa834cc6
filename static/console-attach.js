/* Files an agent sends with a reply or keeps with a note. The composer's attach button picks
   files; each is uploaded at once with XMLHttpRequest (POST /api/v1/conversations/{id}/uploads)
   so its progress shows in a bar with a cancel button, and a refusal (too large, a kind the
   channel cannot carry, an SMS number MMS does not reach) stays beside it saying why. The
   reply names the uploaded ones (window.CC.attachments, which console.js asks when it sends).
   In the thread, an image opens larger in a viewer over the page. */
(function () {
  "use strict";

  var CC = window.CC;
  var composer = document.getElementById("composer");
  if (!CC || !composer) return;
  var t = CC.t;
  var el = CC.el;
  var MAX_FILES = 5;

  var input = document.getElementById("attach-input");
  var button = document.getElementById("attach-open");
  var list = document.getElementById("attach-list");
  var items = [];   // {file, xhr, upload (id once stored), failed, node}

  function csrf() {
    var found = document.cookie.split("; ").filter(function (c) { return c.indexOf("cc_csrf=") === 0; })[0];
    return found ? decodeURIComponent(found.slice("cc_csrf=".length)) : "";
  }
  function size(bytes) {
    if (bytes < 1048576) return t("size.kilobytes", { n: CC.number(Math.max(1, Math.round(bytes / 1024))) });
    return t("size.megabytes", { n: CC.number(Math.round(bytes / 104857.6) / 10) });
  }

  function remove(item) {
    if (item.xhr && item.upload === null && !item.failed) item.xhr.abort();
    items = items.filter(function (other) { return other !== item; });
    item.node.remove();
    list.hidden = !items.length;
  }
  function clear() { items.slice().forEach(remove); }

  function refused(item, xhr) {
    var data = null;
    try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
    item.failed = true;
    item.node.classList.add("attach-failed");
    item.node.setAttribute("role", "alert");
    item.bar.remove();
    item.label.textContent = item.file.name + ": " + CC.errorText({ status: xhr.status, data: data });
    item.cancel.title = t("attach.remove");
    item.cancel.setAttribute("aria-label", t("attach.remove"));
  }

  function start(file, conversationId) {
    var item = { file: file, upload: null, failed: false };
    item.bar = el("progress", { className: "attach-progress", max: 100, value: 0 });
    item.label = el("span", { className: "attach-label", text: t("attach.uploading", { name: file.name, percent: 0 }) });
    item.cancel = el("button", { type: "button", className: "btn btn-ghost btn-sm attach-cancel", text: "×",
                                 title: t("attach.cancel"), "aria-label": t("attach.cancel"),
                                 on: { click: function () { remove(item); } } });
    item.node = el("li", { className: "attach-item" }, [item.label, item.bar, item.cancel]);
    items.push(item);
    list.appendChild(item.node);
    list.hidden = false;

    var xhr = new XMLHttpRequest();
    item.xhr = xhr;
    var note = composer.dataset.mode === "note";
    xhr.open("POST", "/api/v1/conversations/" + conversationId + "/uploads" + (note ? "?for=note" : ""));
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.setRequestHeader("X-Filename", encodeURIComponent(file.name));
    xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
    xhr.upload.addEventListener("progress", function (event) {
      if (!event.lengthComputable) return;
      var percent = Math.round(event.loaded * 100 / event.total);
      item.bar.value = percent;
      item.label.textContent = t("attach.uploading", { name: file.name, percent: percent });
    });
    xhr.addEventListener("load", function () {
      if (xhr.status !== 201) { refused(item, xhr); return; }
      var stored = JSON.parse(xhr.responseText);
      item.upload = stored.upload;
      item.bar.remove();
      item.node.classList.add("attach-ready");
      item.label.textContent = t("attach.ready", { name: stored.filename, size: size(stored.size) });
      item.cancel.title = t("attach.remove");
      item.cancel.setAttribute("aria-label", t("attach.remove"));
    });
    xhr.addEventListener("error", function () {
      refused(item, { status: 0, responseText: "" });
    });
    xhr.send(file);
  }

  button.addEventListener("click", function () { input.click(); });
  input.addEventListener("change", function () {
    var conversationId = composer.dataset.conversation;
    Array.prototype.slice.call(input.files || []).forEach(function (file) {
      if (conversationId && items.length < MAX_FILES) start(file, conversationId);
    });
    input.value = "";
  });

  // Another conversation opened: the files chosen for the last one are not for this one. A
  // channel that carries no files (a phone call) offers the button only for notes.
  new MutationObserver(function (changes) {
    if (changes.some(function (c) { return c.attributeName === "data-conversation"; })) clear();
    var carries = composer.dataset.files !== "no" || composer.dataset.mode === "note";
    button.disabled = !carries;
    button.title = carries ? t("attach.button") : t("attach.no_files");
  }).observe(composer, { attributes: true, attributeFilter: ["data-conversation", "data-files", "data-mode"] });

  CC.attachments = {
    /* The ids of the files uploaded for the reply. */
    ready: function () {
      return items.filter(function (i) { return i.upload; }).map(function (i) { return i.upload; });
    },
    /* Whether a file is still on its way (the reply waits for it). */
    busy: function () { return items.some(function (i) { return i.upload === null && !i.failed; }); },
    clear: clear
  };

  // --- the viewer: an image of the thread, larger, over the page -----------------------------
  var viewer = el("dialog", { className: "attach-viewer", "aria-label": t("attach.button") });
  var viewerImage = el("img", { alt: "" });
  var viewerCaption = el("a", { className: "attach-viewer-name", target: "_blank", rel: "noopener noreferrer" });
  var close = el("button", { type: "button", className: "btn btn-sm attach-viewer-close", text: t("attach.close"),
                             on: { click: function () { viewer.close(); } } });
  viewer.appendChild(el("div", { className: "attach-viewer-bar" }, [viewerCaption, close]));
  viewer.appendChild(viewerImage);
  viewer.addEventListener("click", function (event) { if (event.target === viewer) viewer.close(); });
  document.body.appendChild(viewer);

  var thread = document.getElementById("thread");
  if (thread) {
    thread.addEventListener("click", function (event) {
      var link = event.target.closest ? event.target.closest("a.attachment-image") : null;
      if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
      event.preventDefault();
      viewerImage.src = link.getAttribute("data-preview") || link.href;   // a PDF: its page
      viewerImage.alt = link.title || "";
      viewerCaption.href = link.href;
      viewerCaption.textContent = link.title || "";
      viewer.showModal();
      close.focus();
    });
  }
})();
