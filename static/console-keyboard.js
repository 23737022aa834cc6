/* The console with the keyboard alone (WCAG 2.1.1, 2.4.3, 2.4.7): the conversation list is a
   listbox with one row in the Tab order that the arrows move through and Enter or Space opens,
   after which the focus waits in the composer; Escape in the composer goes back to that row
   (where the single-key shortcuts of console.js work); an open dialog keeps Tab and
   Shift+Tab inside it and, once closed, gives the focus back to where it was. The skip link
   leads past the top bar to the list. console.js redraws the list whole on every change, so
   the row the keyboard is on is found again by its conversation's id. */
(function () {
  "use strict";
  var list = document.getElementById("conversation-list");
  if (!list) return;
  var composerText = document.getElementById("composer-text");
  var conversation = document.getElementById("conversation");
  // The conversation whose row had the keyboard's focus, while it has it: a redraw that
  // drops that focus puts it back on the row's successor.
  var focusedId = null;
  // The last element outside any dialog that had the focus: a closed dialog returns it there.
  var beforeDialog = null;

  function rows() { return Array.prototype.slice.call(list.querySelectorAll(".conv-row")); }
  function rowOf(id) { return id ? list.querySelector('.conv-row[data-id="' + id + '"]') : null; }

  /* Roving tabindex: the row the keyboard was on, else the open conversation's, else the
     first, is the list's one stop in the Tab order. */
  function rove() {
    var target = rowOf(focusedId) || list.querySelector(".conv-row.selected") || list.querySelector(".conv-row");
    rows().forEach(function (row) { row.tabIndex = row === target ? 0 : -1; });
    return target;
  }
  new MutationObserver(function () {
    var target = rove();
    var lost = !document.activeElement || document.activeElement === document.body;
    if (focusedId && lost && target) target.focus();
  }).observe(list, { childList: true });

  list.addEventListener("focusin", function (event) {
    var row = event.target.closest(".conv-row");
    if (row) { focusedId = row.dataset.id; rove(); }
  });
  list.addEventListener("focusout", function (event) {
    // Focus moved on elsewhere (a null target is the row being redrawn away).
    if (event.relatedTarget && !list.contains(event.relatedTarget)) focusedId = null;
  });
  document.addEventListener("pointerdown", function (event) {
    if (!list.contains(event.target)) focusedId = null;
  });

  /* The composer once the conversation shows (the first one opened shows after its load). */
  function focusComposer() {
    if (!conversation.hidden) { composerText.focus(); return; }
    var shown = new MutationObserver(function () {
      if (conversation.hidden) return;
      shown.disconnect();
      composerText.focus();
    });
    shown.observe(conversation, { attributes: true, attributeFilter: ["hidden"] });
  }

  list.addEventListener("keydown", function (event) {
    var row = event.target.closest(".conv-row");
    if (!row || event.ctrlKey || event.metaKey || event.altKey) return;
    var all = rows();
    var index = all.indexOf(row);
    var next = null;
    switch (event.key) {
      case "ArrowDown": next = all[Math.min(index + 1, all.length - 1)]; break;
      case "ArrowUp": next = all[Math.max(index - 1, 0)]; break;
      case "Home": next = all[0]; break;
      case "End": next = all[all.length - 1]; break;
      case "Enter": case " ":
        event.preventDefault();
        row.click();
        focusComposer();
        return;
      default: return;
    }
    event.preventDefault();
    next.focus();
  });

  document.getElementById("skip-to-list").addEventListener("click", function (event) {
    event.preventDefault();
    var target = rove();
    (target || document.getElementById("search")).focus();
  });

  composerText.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var row = list.querySelector(".conv-row.selected");
    if (row) row.focus();
  });

  // -- dialogs
  var TABBABLE = "a[href], button, input, select, textarea, [tabindex]";
  function tabbables(dialog) {
    return Array.prototype.slice.call(dialog.querySelectorAll(TABBABLE)).filter(function (node) {
      if (node.disabled || node.tabIndex < 0 || !node.getClientRects().length) return false;
      // Of a group of radio buttons, Tab stops on the chosen one only.
      if (node.type === "radio" && !node.checked) {
        var group = dialog.querySelectorAll('input[type="radio"][name="' + node.name + '"]');
        return !Array.prototype.some.call(group, function (radio) { return radio.checked; }) && group[0] === node;
      }
      return true;
    });
  }
  document.addEventListener("focusin", function (event) {
    if (!event.target.closest("dialog")) beforeDialog = event.target;
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") return;
    var dialog = document.querySelector("dialog[open]");
    if (!dialog) return;
    var stops = tabbables(dialog);
    if (!stops.length) return;
    var first = stops[0], last = stops[stops.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (!inside || (event.shiftKey && document.activeElement === first)) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  document.querySelectorAll("dialog").forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      var back = beforeDialog && beforeDialog.isConnected ? beforeDialog
        : beforeDialog && beforeDialog.classList.contains("conv-row") ? rowOf(beforeDialog.dataset.id) : null;
      if (back) back.focus();
    });
  });
})();
