/* A resident's whole history across channels (GET /api/v1/contacts/{id}/timeline), opened from
   the contact panel's "Full history" button: every message of every conversation the agent may
   see, grouped by conversation under its channel, oldest at the top, with "Earlier messages"
   reading further back one page at a time (long histories are never loaded at once). A group's
   button opens that conversation in the console. Residents' text is set with textContent only. */
(function () {
  "use strict";
  var CC = window.CC;
  var page = CC && CC.console;
  if (!page) return;
  var t = CC.t, el = CC.el;
  var CATEGORIES = { inquiry: t("category.inquiry"), registration: t("category.registration"),
                     support: t("category.support") };
  var STATUSES = { waiting: t("status.waiting"), open: t("status.open"), pending: t("status.pending"),
                   resolved: t("status.resolved") };
  var AUTHORS = { "in": t("author.resident"), out: t("author.agent"), note: t("timeline.note") };

  var dialog = el("dialog", { className: "dialog dialog-timeline", id: "timeline-dialog",
                              "aria-labelledby": "timeline-title" });
  var title = el("h2", { id: "timeline-title" });
  var earlier = el("button", { type: "button", className: "btn btn-sm btn-block", id: "timeline-earlier",
                               text: t("timeline.earlier"), hidden: true });
  var list = el("ol", { className: "timeline", id: "timeline-list" });
  var status = el("p", { className: "muted", id: "timeline-status", role: "status" });
  dialog.appendChild(title);
  dialog.appendChild(earlier);
  dialog.appendChild(list);
  dialog.appendChild(status);
  dialog.appendChild(el("form", { method: "dialog", className: "dialog-bar" }, [
    el("button", { className: "btn btn-primary", id: "timeline-close", text: t("dialog.close") })]));
  document.body.appendChild(dialog);

  var shown = null;   // {contactId, conversations: id -> summary, messages: [...], before}

  function when(iso) {
    return iso ? CC.longDate(new Date(iso)) + ", " + CC.timeWithSeconds(new Date(iso)).slice(0, 5) : "";
  }
  function groupHead(conversationId, channel) {
    var c = shown.conversations[conversationId] || { id: conversationId, channel: channel };
    var facts = ["#" + c.id, c.category ? CC.labelOf(CATEGORIES, c.category) : t("category.none")];
    if (c.created_at) facts.push(t("timeline.started", { at: when(c.created_at) }));
    return el("div", { className: "timeline-head" }, [
      CC.channelIcon(c.channel || channel),
      el("span", { className: "timeline-channel", text: CC.channelLabel(c.channel || channel) }),
      el("span", { className: "muted small", text: facts.join(" · ") }),
      c.status ? el("span", { className: "status-tag status-" + c.status, text: CC.labelOf(STATUSES, c.status) }) : null,
      el("button", { type: "button", className: "btn btn-sm timeline-open", text: t("timeline.open_conversation"),
                     on: { click: function () { dialog.close(); page.open(c.id); } } })]);
  }
  function messageNode(m) {
    var text = m.body || (m.attachments && m.attachments.length ? t("timeline.attachments", { count: m.attachments.length }) : "");
    return el("li", { className: "timeline-msg timeline-" + m.direction, data: { messageId: m.id } }, [
      el("div", { className: "msg-meta" }, [
        el("span", { className: "msg-author", text: CC.labelOf(AUTHORS, m.direction) }),
        el("time", { dateTime: m.created_at, text: when(m.created_at), title: m.created_at })]),
      el("div", { className: "msg-body", text: text })]);
  }
  function render() {
    list.textContent = "";
    var group = null, current = null;
    shown.messages.forEach(function (m) {
      if (m.conversation_id !== current) {
        current = m.conversation_id;
        group = el("ol", { className: "timeline-messages" });
        list.appendChild(el("li", { className: "timeline-group", data: { conversationId: current, channel: m.channel } },
                            [groupHead(current, m.channel), group]));
      }
      group.appendChild(messageNode(m));
    });
    earlier.hidden = !shown.before;
    status.textContent = shown.messages.length ? "" : t("timeline.empty");
  }
  function readPage() {
    var query = shown.before ? "?before=" + shown.before : "";
    return CC.api("GET", "/api/v1/contacts/" + shown.contactId + "/timeline" + query).then(function (result) {
      shown.messages = result.data.items.concat(shown.messages);
      shown.before = result.data.next_before;
      render();
    });
  }
  function open(contactId, name) {
    shown = { contactId: contactId, conversations: {}, messages: [], before: null };
    title.textContent = t("timeline.title", { name: name });
    list.textContent = "";
    earlier.hidden = true;
    status.textContent = t("timeline.loading");
    if (!dialog.open) dialog.showModal();
    CC.api("GET", "/api/v1/contacts/" + contactId).then(function (result) {
      (result.data.conversations || []).forEach(function (c) { shown.conversations[c.id] = c; });
      return readPage();
    }).then(function () {
      list.scrollTop = list.scrollHeight;     // the newest at the bottom, as in a thread
    }).catch(function (error) {
      status.textContent = t("timeline.unavailable", { reason: CC.errorText(error) });
    });
  }

  earlier.addEventListener("click", function () {
    var first = shown.messages.length ? shown.messages[0].id : null;
    earlier.disabled = true;
    readPage().then(function () {
      // The list is drawn anew: bring back the message that was the oldest shown, with the
      // ones just added above it.
      var kept = first === null ? null : list.querySelector('[data-message-id="' + first + '"]');
      if (kept) kept.scrollIntoView({ block: "center" });
    }, CC.fail).then(function () { earlier.disabled = false; });
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("#contact-timeline-open");
    if (button) open(Number(button.dataset.contactId), button.dataset.contactName);
  });
})();
