/* Supervising from the console: a supervisor who opens a colleague's conversation watches it
   read-only (messages still arrive live; the reply tab is gone, a note or a whisper is not)
   and may take it over; an agent is told at once of a whisper on a conversation of theirs.
   The server enforces the same (409 take_over_first); this only keeps the page honest. */
(function () {
  "use strict";
  var CC = window.CC;
  if (!CC || !CC.conversation) return;
  var t = CC.t;
  var page = CC.conversation;
  var supervising = CC.me.role === "supervisor" || CC.me.role === "admin";
  var banner = document.getElementById("watching");
  var bannerText = document.getElementById("watching-text");
  var replyTab = document.querySelector('.composer-tabs button[data-mode="reply"]');

  function watching(c) {
    return supervising && c.assignee !== null && c.assignee !== undefined && c.assignee !== CC.me.id;
  }

  var forced = false;   // the whisper tab was chosen because the conversation is watched
  CC.hooks.conversationShown = function (c) {
    var readOnly = watching(c);
    banner.hidden = !readOnly;
    replyTab.hidden = readOnly;
    // setMode renders the header again (and calls this again): only when the mode must change.
    if (!readOnly) {
      if (forced && page.state.mode === "whisper") { forced = false; page.setMode("reply"); }
      return;
    }
    bannerText.textContent = t("supervise.watching", { agent: page.agentName(c.assignee) });
    if (page.state.mode === "reply") { forced = true; page.setMode("whisper"); }
  };

  document.getElementById("take-over").addEventListener("click", function () {
    var id = page.state.selected;
    if (!id) return;
    CC.api("POST", "/api/v1/conversations/" + id + "/take-over").then(function (result) {
      CC.toast(t("toast.taken_over", { id: id }));
      return page.afterAction(result);   // shown as the caller's: the reply tab comes back
    }).catch(CC.fail);
  });

  /* A whisper on a conversation assigned to me: a toast, and the conversation marked in the
     list until I open it (the thread itself shows the whisper apart when it is open). */
  CC.hooks.whisper = function (data) {
    if (data.assignee !== CC.me.id || data.author === CC.me.id) return;
    if (page.state.selected !== data.conversation_id) {
      page.state.unread[data.conversation_id] = true;
      page.renderList();
    }
    var text = String(data.body || "");
    if (text.length > 140) text = text.slice(0, 139) + "…";
    CC.toast(t("toast.whisper", { id: data.conversation_id, text: text }), "warn");
  };
})();
