/* The case's outcome in the console: the bar under the conversation's header lists the
   outcomes recorded (each with its notification's attempts and their delivery state) and
   records a new one (approved; rejected with a reason; documents ready at a DOST centre;
   more information needed). The worker notifies the resident; live updates of the
   conversation refresh the bar. Words come from the catalogue through CC.t. */
(function () {
  "use strict";
  var CC = window.CC;
  var bar = document.getElementById("outcome-bar");
  if (!CC || !bar) return;
  var t = CC.t, el = CC.el;
  var KINDS = {
    approved: t("outcome.kind_approved"), rejected: t("outcome.kind_rejected"),
    pickup: t("outcome.kind_pickup"), more_info: t("outcome.kind_more_info")
  };
  var STATES = {
    pending: t("outcome.state_pending"), sent: t("outcome.state_sent"),
    delivered: t("outcome.state_delivered"), failed: t("outcome.state_failed")
  };
  var DELIVERY = {
    queued: t("delivery.queued"), sending: t("delivery.queued"), sent: t("delivery.sent"),
    delivered: t("delivery.delivered"), read: t("delivery.read"), failed: t("delivery.failed")
  };
  var CASES = { registration: true, support: true };
  var list = document.getElementById("outcome-list");
  var form = document.getElementById("outcome-form");
  var kind = document.getElementById("outcome-kind");
  var reason = document.getElementById("outcome-reason");
  var centre = document.getElementById("outcome-centre");
  var language = document.documentElement.lang || "az";
  var centres = [];
  var current = null;

  CC.eventTexts = Object.assign(CC.eventTexts || {}, {
    outcome_recorded: function (d) { return t("event.outcome_recorded", { kind: KINDS[d.kind] || d.kind }); },
    notification_queued: function (d) {
      return t("event.notification_queued", { attempt: d.attempt, channel: CC.channelLabel(d.channel) });
    },
    survey_sent: function () { return t("event.survey_sent"); },
    survey_answered: function (d) { return t("event.survey_answered", { score: d.score }); }
  });

  Object.keys(KINDS).forEach(function (k) { kind.appendChild(el("option", { value: k, text: KINDS[k] })); });

  function centreName(id) {
    var found = centres.filter(function (c) { return c.id === id; })[0];
    return found ? (found.name[language] || found.name.az) : id;
  }

  function showFields() {
    reason.hidden = !(kind.value === "rejected" || kind.value === "more_info");
    reason.required = kind.value === "rejected";
    centre.hidden = kind.value !== "pickup";
  }

  function attemptNode(a) {
    var state = a.delivery_status ? DELIVERY[a.delivery_status] : t("delivery.failed");
    return el("li", { className: "outcome-attempt", data: { channel: a.channel, status: a.delivery_status || "failed" },
                      title: a.error || "" },
              [t("outcome.attempt", { attempt: a.attempt, channel: CC.channelLabel(a.channel), state: state })]);
  }

  function render(outcomes) {
    list.textContent = "";
    outcomes.forEach(function (o) {
      var what = KINDS[o.kind] || o.kind;
      if (o.centre) what += " · " + centreName(o.centre);
      if (o.reason) what += " · " + o.reason;
      list.appendChild(el("li", { className: "outcome outcome-" + o.notification, data: { id: o.id, state: o.notification } }, [
        el("span", { className: "outcome-kind", text: what }),
        el("span", { className: "outcome-state", text: STATES[o.notification] || o.notification }),
        el("ul", { className: "outcome-attempts" }, o.attempts.map(attemptNode))
      ]));
    });
  }

  function load(conversation) {
    current = conversation.id;
    bar.hidden = !CASES[conversation.category];
    if (bar.hidden) return;
    CC.api("GET", "/api/v1/conversations/" + conversation.id + "/outcomes").then(function (result) {
      if (current === conversation.id) render(result.data);
    }).catch(CC.fail);
  }

  CC.api("GET", "/api/v1/dost-centres").then(function (result) {
    centres = result.data;
    centres.forEach(function (c) {
      centre.appendChild(el("option", { value: c.id, text: c.name[language] || c.name.az }));
    });
  }).catch(CC.fail);

  kind.addEventListener("change", showFields);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (current === null) return;
    var payload = { kind: kind.value };
    if (!reason.hidden && reason.value.trim()) payload.reason = reason.value.trim();
    if (!centre.hidden) payload.centre = centre.value;
    var id = current;
    CC.api("POST", "/api/v1/conversations/" + id + "/outcome", payload).then(function (result) {
      reason.value = "";
      if (current === id) render(result.data);
      CC.toast(t("outcome.recorded"));
    }).catch(CC.fail);
  });
  document.addEventListener("cc:conversation", function (event) { load(event.detail); });
  showFields();
})();
