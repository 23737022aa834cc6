/* The guided registration intake's answers at the top of an open conversation: the case's
   structured fields as the API gives them (a FIN or ID card number arrives masked for anyone
   who is not an operator of the conversation's queue; nothing is unmasked here). */
(function () {
  "use strict";
  var CC = window.CC;
  if (!CC) return;
  var t = CC.t, el = CC.el;
  var FIELDS = {
    full_name: t("intake.field.full_name"), fin: t("intake.field.fin"),
    id_card: t("intake.field.id_card"), birth_date: t("intake.field.birth_date"),
    address: t("intake.field.address"), service: t("intake.field.service"),
    result_channel: t("intake.field.result_channel")
  };
  var STATES = {
    active: t("intake.state.active"), paused: t("intake.state.paused"),
    complete: t("intake.state.complete"), handed_over: t("intake.state.handed_over")
  };
  var LANGUAGE = (document.documentElement.lang || "az").slice(0, 2);

  function valueText(field) {
    if (field.value === null || field.value === undefined) return t("intake.skipped");
    if (field.labels) return field.labels[LANGUAGE] || field.labels.az || String(field.value);
    return String(field.value);
  }

  CC.renderIntake = function (conversation) {
    var panel = document.getElementById("intake-panel");
    if (!panel) return;
    panel.textContent = "";
    var intake = conversation && conversation.intake;
    panel.hidden = !intake;
    if (!intake) return;
    var head = el("div", { className: "intake-head" }, [
      el("strong", { text: t("intake.title") }),
      el("span", { className: "chip intake-state intake-" + intake.status,
                   text: STATES[intake.status] || intake.status })]);
    if (intake.reason) head.appendChild(el("span", { className: "muted", text: t("intake.reason", { reason: intake.reason }) }));
    panel.appendChild(head);
    var list = el("dl", { className: "intake-fields" });
    intake.fields.forEach(function (field) {
      list.appendChild(el("dt", { text: FIELDS[field.id] || field.id }));
      var value = el("dd", { className: field.masked ? "masked" : "", text: valueText(field),
                             id: "intake-" + field.id });
      if (field.masked) value.title = t("intake.masked");
      list.appendChild(value);
    });
    panel.appendChild(list);
    if (intake.documents.length) {
      panel.appendChild(el("p", { className: "muted", text: t("intake.documents", { count: CC.number(intake.documents.length) }) }));
    }
  };
})();
