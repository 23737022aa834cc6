/* The admins' page of canned responses (/admin/canned): the list of responses in force, the
   editor (key, queue, title and text in each language), delete, and reset of a shipped
   default, all through /api/v1/admin/canned. Texts are only ever set with textContent/value. */
(function () {
  "use strict";
  var CC = window.CC;
  var el = CC.el;
  var t = CC.t;
  var LANGUAGES = document.querySelector(".admin-canned").dataset.languages.split(",");
  var UI_LANGUAGE = document.documentElement.lang || "az";

  var rows = document.getElementById("canned-rows");
  var filter = document.getElementById("canned-filter");
  var editor = document.getElementById("canned-editor");
  var editorTitle = document.getElementById("canned-editor-title");
  var keyInput = document.getElementById("canned-key");
  var queueSelect = document.getElementById("canned-queue");
  var errorBox = document.getElementById("canned-error");
  var deletedBox = document.getElementById("canned-deleted");
  var deletedList = document.getElementById("canned-deleted-list");
  var state = { responses: [], queues: {}, editing: null, filled: false };

  function field(part, language) { return document.getElementById("canned-" + part + "-" + language); }
  function titleOf(response) { return response.title[UI_LANGUAGE] || response.title.az; }
  function queueName(id) { return id ? (state.queues[id] || id) : t("admin_canned.global"); }

  function fillQueueOptions(queues) {
    if (state.filled) return;
    state.filled = true;
    queues.forEach(function (queue) {
      state.queues[queue.id] = CC.queueLabel(queue);
      queueSelect.appendChild(el("option", { value: queue.id, text: CC.queueLabel(queue) }));
      filter.appendChild(el("option", { value: queue.id, text: CC.queueLabel(queue) }));
    });
  }

  function load() {
    return CC.api("GET", "/api/v1/admin/canned").then(function (result) {
      var data = result.data;
      fillQueueOptions(data.queues);
      document.getElementById("canned-variables").textContent = "";
      data.variables.forEach(function (name, index) {
        var slot = document.getElementById("canned-variables");
        if (index) slot.appendChild(document.createTextNode(" "));
        slot.appendChild(el("code", { text: "{" + name + "}" }));
      });
      state.responses = data.responses;
      render();
      renderDeleted(data.deleted_defaults);
    }).catch(CC.fail);
  }

  function render() {
    var wanted = filter.value;
    rows.textContent = "";
    var shown = state.responses.filter(function (response) {
      return wanted === "*" || (response.queue || "") === wanted;
    });
    shown.forEach(function (response) {
      var titleCell = el("td", {}, [el("span", { text: titleOf(response) })]);
      if (response.is_default) titleCell.appendChild(el("span", { className: "badge", text: t("admin_canned.default") }));
      if (response.modified) titleCell.appendChild(el("span", { className: "badge", text: t("admin_canned.modified") }));
      var actions = el("td", { className: "actions" }, [
        el("button", { type: "button", className: "btn btn-sm", text: t("admin_canned.edit"),
                       data: { action: "edit" }, on: { click: function () { edit(response); } } }),
        el("button", { type: "button", className: "btn btn-sm", text: t("admin_canned.delete"),
                       data: { action: "delete" }, on: { click: function () { remove(response); } } })
      ]);
      if (response.modified) {
        actions.appendChild(el("button", { type: "button", className: "btn btn-sm", text: t("admin_canned.reset"),
                                           data: { action: "reset" }, on: { click: function () { reset(response.key); } } }));
      }
      rows.appendChild(el("tr", { data: { key: response.key } }, [
        el("td", {}, [el("code", { text: response.key })]), el("td", { text: queueName(response.queue) }),
        titleCell, actions]));
    });
    if (!shown.length) rows.appendChild(el("tr", {}, [el("td", { className: "muted", text: t("admin_canned.empty") })]));
  }

  function renderDeleted(deleted) {
    deletedList.textContent = "";
    deletedBox.hidden = !deleted.length;
    deleted.forEach(function (entry) {
      deletedList.appendChild(el("li", { data: { key: entry.key } }, [
        el("code", { text: entry.key }), el("span", { text: entry.title[UI_LANGUAGE] || entry.title.az }),
        el("button", { type: "button", className: "btn btn-sm", text: t("admin_canned.restore"),
                       on: { click: function () { reset(entry.key); } } })]));
    });
  }

  function open(response) {
    state.editing = response ? response.key : null;
    editorTitle.textContent = response ? t("admin_canned.editor_edit", { key: response.key }) : t("admin_canned.editor_new");
    keyInput.value = response ? response.key : "";
    keyInput.disabled = !!response;
    queueSelect.value = response && response.queue ? response.queue : "";
    LANGUAGES.forEach(function (language) {
      field("title", language).value = response ? response.title[language] : "";
      field("body", language).value = response ? response.body[language] : "";
    });
    errorBox.hidden = true;
    editor.hidden = false;
    (response ? field("title", LANGUAGES[0]) : keyInput).focus();
  }
  function edit(response) { open(response); }
  function close() { editor.hidden = true; state.editing = null; }

  function save(event) {
    event.preventDefault();
    var payload = { queue: queueSelect.value || null, title: {}, body: {} };
    LANGUAGES.forEach(function (language) {
      payload.title[language] = field("title", language).value;
      payload.body[language] = field("body", language).value;
    });
    var request;
    if (state.editing) {
      request = CC.api("PUT", "/api/v1/admin/canned/" + encodeURIComponent(state.editing), payload);
    } else {
      payload.key = keyInput.value.trim();
      request = CC.api("POST", "/api/v1/admin/canned", payload);
    }
    var button = document.getElementById("canned-save");
    button.disabled = true;
    request.then(function () {
      close();
      CC.toast(t("admin_canned.saved"));
      return load();
    }, function (err) {
      errorBox.textContent = CC.errorText(err);
      errorBox.hidden = false;
    }).then(function () { button.disabled = false; });
  }

  function remove(response) {
    if (!window.confirm(t("admin_canned.confirm_delete", { title: titleOf(response) }))) return;
    CC.api("DELETE", "/api/v1/admin/canned/" + encodeURIComponent(response.key)).then(function () {
      if (state.editing === response.key) close();
      CC.toast(t("admin_canned.deleted"));
      return load();
    }).catch(CC.fail);
  }

  function reset(key) {
    CC.api("POST", "/api/v1/admin/canned/" + encodeURIComponent(key) + "/reset").then(function () {
      if (state.editing === key) close();
      CC.toast(t("admin_canned.restored"));
      return load();
    }).catch(CC.fail);
  }

  document.getElementById("canned-new").addEventListener("click", function () { open(null); });
  document.getElementById("canned-cancel").addEventListener("click", close);
  editor.addEventListener("submit", save);
  filter.addEventListener("change", render);
  load();
})();
