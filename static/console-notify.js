/* Browser notifications for the agent: a conversation newly assigned to them, and a
   resident's reply in one of their conversations, while the console's tab is in the
   background or another conversation is open. Off until the agent turns it on with the bell
   in the top bar: only then does the browser ask for permission. The choice is kept in this
   browser for this user (the browser's permission is per browser too, so a choice kept on
   the account could not show anything on another machine). Heard from the live connection
   the console already holds (console.js dispatches each event as "cc:live"); a click on a
   notification brings the tab forward and opens the conversation. The text holds only what
   the agent's list shows: the channel, the contact's name (phone masked) and the first
   characters of the reply. */
(function () {
  "use strict";
  var CC = window.CC;
  var page = CC && CC.console;
  var button = document.getElementById("notify-toggle");
  if (!page || !button) return;
  var t = CC.t;
  var BELL = "M12 22a2.5 2.5 0 0 0 2.5-2.5h-5A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.8V3.5a1.5 1.5 0 0 0-3 0v.7A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2z";
  var BELL_OFF = "M12 22a2.5 2.5 0 0 0 2.5-2.5h-5A2.5 2.5 0 0 0 12 22zM19 16V11a7 7 0 0 0-5.5-6.8V3.5a1.5 1.5 0 0 0-3 0v.7a6.9 6.9 0 0 0-2.3 1L19 16.3zM3.3 2.9 2 4.2l3.2 3.2A7 7 0 0 0 5 11v5l-2 2v1h14.8l2 2 1.3-1.3L3.3 2.9z";
  var PREVIEW = 60;          // characters of a reply shown: enough to tell replies apart
  var SETTLE_MS = 1500;      // an assignment the agent made themselves opens meanwhile

  function storageKey() { return "cc.notify." + (CC.me.id || Number(document.body.dataset.userId) || ""); }
  function supported() { return typeof window.Notification === "function"; }
  function enabled() {
    return supported() && window.Notification.permission === "granted"
      && window.localStorage.getItem(storageKey()) === "on";
  }

  function show() {
    var on = enabled();
    button.setAttribute("aria-pressed", String(on));
    button.textContent = "";
    button.appendChild(CC.icon(on ? BELL : BELL_OFF));
    button.title = on ? t("notify.on") : t("notify.off");
    button.setAttribute("aria-label", button.title);
  }
  button.addEventListener("click", function () {
    if (enabled()) {
      window.localStorage.setItem(storageKey(), "off");
      show();
      return;
    }
    if (!supported()) { CC.toast(t("notify.unsupported"), "warn"); return; }
    if (window.Notification.permission === "denied") { CC.toast(t("notify.denied"), "warn"); return; }
    // Asked only here, on the agent's own click: browsers ignore a request made unprompted.
    Promise.resolve(window.Notification.requestPermission()).then(function (permission) {
      if (permission === "granted") {
        window.localStorage.setItem(storageKey(), "on");
        CC.toast(t("notify.turned_on"));
      } else {
        CC.toast(t("notify.denied"), "warn");
      }
      show();
    });
  });

  function elsewhere(id) { return document.hidden || page.selected() !== id; }
  function preview(text) {
    var flat = String(text || "").replace(/\s+/g, " ").trim();
    return flat.length > PREVIEW ? flat.slice(0, PREVIEW - 1) + "…" : flat;
  }
  /* The chime (when the sound button is on) whether or not notifications are; the
     notification itself only when the agent turned them on. */
  function notify(kind, conversation, title, text) {
    page.sound();
    if (!enabled()) return;
    var where = CC.channelLabel(conversation.channel) + " · " + page.contactName(conversation.contact);
    var note = new window.Notification(title, {
      body: text === null ? where : t("notify.body_text", { where: where, text: text }),
      tag: "cc-" + kind + "-" + conversation.id,     // a later one replaces, not piles up
      lang: document.documentElement.lang, icon: "/static/favicon.svg"
    });
    note.onclick = function () {
      window.focus();
      page.open(conversation.id);
      note.close();
    };
  }

  /* Assignments: the assignee each conversation had when last heard of, so only a change to
     this agent counts (an update of a conversation already theirs does not). */
  var assignees = {};
  function heardConversation(c, type) {
    if (!c) return;
    var known = Object.prototype.hasOwnProperty.call(assignees, c.id);
    var listed = page.conversation(c.id);
    var before = known ? assignees[c.id] : listed ? listed.assignee : undefined;
    assignees[c.id] = c.assignee;
    if (c.assignee !== CC.me.id || before === CC.me.id || c.status === "resolved") return;
    // Never heard of and already answered: an old conversation of theirs, not a new one.
    if (before === undefined && type === "conversation.updated" && c.first_response_at) return;
    var tell = function () {
      if (elsewhere(c.id)) notify("assigned", c, t("notify.assigned_title"), null);
    };
    if (document.hidden) tell(); else setTimeout(tell, SETTLE_MS);
  }
  function heardMessage(data) {
    var m = data.message;
    if (!m || m.direction !== "in" || !elsewhere(data.conversation_id)) return;
    var text = preview(m.body) || t("notify.attachment");
    var listed = page.conversation(data.conversation_id);
    var found = listed ? Promise.resolve(listed)
      : CC.api("GET", "/api/v1/conversations/" + data.conversation_id).then(function (r) { return r.data; });
    found.then(function (c) {
      if (c && c.assignee === CC.me.id) notify("reply", c, t("notify.reply_title"), text);
    }, function () {});
  }

  document.addEventListener("cc:live", function (event) {
    var type = event.detail.type, data = event.detail.data || {};
    if (type === "conversation.created" || type === "conversation.updated") heardConversation(data.conversation, type);
    else if (type === "message.created") heardMessage(data);
  });
  show();
})();
