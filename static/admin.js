/* The admin screen (/admin, admins only): staff accounts (GET/POST /api/v1/admin/users,
   PATCH …/{id}, POST …/{id}/deactivate|reactivate|password), the deployment's configuration
   read-only (GET /api/v1/admin/config) and the audit trail (GET /api/v1/admin/audit).
   The server checks everything; this page only shows what it answers. */
(function () {
  "use strict";
  var CC = window.CC;
  var el = CC.el;
  var t = CC.t;

  var ROLES = { agent: t("role.agent"), supervisor: t("role.supervisor"), admin: t("role.admin") };
  var LANGUAGES = { az: t("language.az"), ru: t("language.ru"), en: t("language.en") };
  var ACTIONS = {
    "user.created": t("admin.action_user_created"),
    "user.updated": t("admin.action_user_updated"),
    "user.deactivated": t("admin.action_user_deactivated"),
    "user.reactivated": t("admin.action_user_reactivated"),
    "user.password_reset": t("admin.action_user_password_reset"),
    "canned.created": t("admin.action_canned_created"),
    "canned.updated": t("admin.action_canned_updated"),
    "canned.deleted": t("admin.action_canned_deleted"),
    "canned.reset": t("admin.action_canned_reset"),
    "contact.erased": t("admin.action_contact_erased"),
    "contact.exported": t("admin.action_contact_exported")
  };
  // The system's own actions (the retention's erasures) agree with "System", not with a person
  // (Russian: "Система удалила", not "удалил(а)").
  var SYSTEM_ACTIONS = { "contact.erased": t("admin.action_contact_erased_system") };
  var TARGET_KINDS = { canned_response: t("admin.target_canned"), contact: t("admin.target_contact") };
  var ERASE_REASONS = { resident_request: t("erase.reason_resident_request"),
                        legal_order: t("erase.reason_legal_order"), retention: t("admin.reason_retention") };
  var FIELDS = {
    email: t("admin.user_email"), name: t("admin.user_name"), role: t("admin.user_role"),
    queues: t("admin.user_queues"), languages: t("admin.user_languages"),
    capacity: t("admin.user_capacity"), voice_address: t("admin.user_voice_address"),
    password: t("admin.user_password"), active: t("admin.user_access")
  };
  var DAYS = { mon: t("admin.day_mon"), tue: t("admin.day_tue"), wed: t("admin.day_wed"),
               thu: t("admin.day_thu"), fri: t("admin.day_fri"), sat: t("admin.day_sat"),
               sun: t("admin.day_sun") };
  var QUEUE_KINDS = { operators: t("admin.queue_kind_operators"), mailbox: t("admin.queue_kind_mailbox") };
  var RULE_KEYS = { category: t("admin.rule_category"), channel: t("admin.rule_channel"),
                    language: t("admin.rule_language"), keywords: t("admin.rule_keywords"),
                    queue_hint: t("admin.rule_queue_hint") };
  var CATEGORIES = { inquiry: t("category.inquiry"), registration: t("category.registration"),
                     support: t("category.support") };
  var CHANNELS = { webchat: t("channel.webchat"), sms: t("channel.sms"), whatsapp: t("channel.whatsapp"),
                   voice: t("channel.voice"), telegram: t("channel.telegram"), email: t("channel.email") };
  // A rule's condition as the admin reads it: config's ids named in the page's language.
  var RULE_VALUES = {
    category: function (value) { return CC.labelOf(CATEGORIES, value); },
    channel: function (value) { return CC.labelOf(CHANNELS, value); },
    language: function (value) { return CC.labelOf(LANGUAGES, value); },
    queue_hint: function (value) { return queueName(value); }
  };

  var config = null;       // GET /api/v1/admin/config
  var users = [];
  var editing = null;      // the account the form edits; null: a new one
  var resetting = null;
  var auditBefore = null;

  function byId(id) { return document.getElementById(id); }
  function queueName(id) {
    var queue = config && config.queues.filter(function (q) { return q.id === id; })[0];
    return queue ? CC.queueLabel(queue) : id;
  }
  function list(values, labels) {
    return (values || []).map(function (value) { return labels ? CC.labelOf(labels, value) : value; }).join(", ");
  }
  function when(iso) {
    var date = new Date(iso);
    return CC.longDate(date) + " " + CC.timeWithSeconds(date);
  }

  // --- tabs --------------------------------------------------------------------------------
  var TABS = ["users", "config", "audit"];
  var loaders = { users: loadUsers, config: showConfig, audit: function () { loadAudit(true); } };
  function select(name, focus) {
    TABS.forEach(function (tab) {
      var button = byId("tab-" + tab);
      var on = tab === name;
      button.setAttribute("aria-selected", String(on));
      button.tabIndex = on ? 0 : -1;
      byId("panel-" + tab).hidden = !on;
      if (on && focus) button.focus();
    });
    loaders[name]();
  }
  TABS.forEach(function (tab, index) {
    var button = byId("tab-" + tab);
    button.addEventListener("click", function () { select(tab); });
    button.addEventListener("keydown", function (event) {
      var step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
      if (!step) return;
      event.preventDefault();
      select(TABS[(index + step + TABS.length) % TABS.length], true);
    });
  });

  // --- users -------------------------------------------------------------------------------
  function capacityText(capacity) {
    return t("admin.capacity_value", { chat: capacity.chat, email: capacity.email });
  }
  function userRow(user) {
    var actions = el("div", { className: "admin-actions" }, [
      el("button", { type: "button", className: "btn btn-sm", text: t("admin.edit"),
                     on: { click: function () { openUser(user); } } }),
      el("button", { type: "button", className: "btn btn-sm", text: t("admin.password_reset"),
                     on: { click: function () { openReset(user); } } }),
      user.active
        ? el("button", { type: "button", className: "btn btn-sm", text: t("admin.deactivate"),
                         disabled: user.id === CC.me.id,
                         on: { click: function () { setActive(user, false); } } })
        : el("button", { type: "button", className: "btn btn-sm", text: t("admin.reactivate"),
                         on: { click: function () { setActive(user, true); } } })
    ]);
    return el("tr", { className: user.active ? "" : "admin-row-inactive", data: { userId: user.id } }, [
      el("td", { text: user.name }), el("td", { text: user.email }),
      el("td", { text: CC.labelOf(ROLES, user.role) }),
      el("td", { text: user.role === "agent" ? list(user.queues.map(queueName)) : t("admin.all_queues") }),
      el("td", { text: list(user.languages, LANGUAGES) }),
      el("td", { text: capacityText(user.capacity) }),
      el("td", { text: user.active ? t("admin.active") : t("admin.inactive") }),
      el("td", {}, [actions])
    ]);
  }
  function renderUsers() {
    var rows = byId("users-rows");
    var showInactive = byId("show-inactive").checked;
    rows.textContent = "";
    users.filter(function (user) { return showInactive || user.active; }).forEach(function (user) {
      rows.appendChild(userRow(user));
    });
  }
  function loadUsers() {
    return loadConfig().then(function () {
      return CC.api("GET", "/api/v1/admin/users");
    }).then(function (result) {
      users = result.data;
      renderUsers();
    }).catch(CC.fail);
  }
  byId("show-inactive").addEventListener("change", renderUsers);

  function loadConfig() {
    if (config) return Promise.resolve(config);
    return CC.api("GET", "/api/v1/admin/config").then(function (result) {
      config = result.data;
      var box = byId("user-queues");
      config.queues.forEach(function (queue) {
        box.appendChild(el("label", { className: "check" }, [
          el("input", { type: "checkbox", name: "queues", value: queue.id }), " " + CC.queueLabel(queue)]));
      });
      return config;
    });
  }

  var form = byId("user-form");
  var dialog = byId("user-dialog");
  function checked(name) {
    return Array.prototype.map.call(form.querySelectorAll("input[name='" + name + "']:checked"),
                                    function (input) { return input.value; });
  }
  function check(name, values) {
    form.querySelectorAll("input[name='" + name + "']").forEach(function (input) {
      input.checked = values.indexOf(input.value) >= 0;
    });
  }
  function showError(box, error) {
    box.textContent = CC.errorText(error);
    box.hidden = false;
  }
  function openUser(user) {
    editing = user;
    form.reset();
    byId("user-error").hidden = true;
    byId("user-dialog-title").textContent = user ? t("admin.user_edit", { name: user.name }) : t("admin.user_new");
    byId("user-email").value = user ? user.email : "";
    byId("user-email").disabled = !!user;
    byId("user-name").value = user ? user.name : "";
    byId("user-role").value = user ? user.role : "agent";
    check("queues", user ? user.queues : []);
    check("languages", user ? user.languages : ["az"]);
    byId("user-capacity-chat").value = user ? user.capacity.chat : 3;
    byId("user-capacity-email").value = user ? user.capacity.email : 10;
    byId("user-voice").value = user ? (user.voice_address || "") : "";
    byId("user-password-field").hidden = !!user;
    byId("user-password").required = !user;
    dialog.showModal();
    (user ? byId("user-name") : byId("user-email")).focus();
  }
  byId("user-new").addEventListener("click", function () { openUser(null); });
  byId("user-cancel").addEventListener("click", function () { dialog.close(); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var account = {
      name: byId("user-name").value, role: byId("user-role").value,
      queues: checked("queues"), languages: checked("languages"),
      capacity: { chat: Number(byId("user-capacity-chat").value),
                  email: Number(byId("user-capacity-email").value) },
      voice_address: byId("user-voice").value
    };
    var call;
    if (editing) {
      call = CC.api("PATCH", "/api/v1/admin/users/" + editing.id, account);
    } else {
      account.email = byId("user-email").value;
      account.password = byId("user-password").value;
      call = CC.api("POST", "/api/v1/admin/users", account);
    }
    call.then(function (result) {
      dialog.close();
      CC.toast(editing ? t("admin.user_saved", { name: result.data.name })
                       : t("admin.user_created", { name: result.data.name }), "success");
      loadUsers();
    }, function (error) { showError(byId("user-error"), error); });
  });

  function setActive(user, active) {
    if (!active && !window.confirm(t("admin.deactivate_confirm", { name: user.name }))) return;
    CC.api("POST", "/api/v1/admin/users/" + user.id + (active ? "/reactivate" : "/deactivate"))
      .then(function (result) {
        CC.toast(result.data.active ? t("admin.user_reactivated", { name: user.name })
                                    : t("admin.user_deactivated", { name: user.name }), "success");
        loadUsers();
      }, CC.fail);
  }

  var resetDialog = byId("password-dialog");
  function openReset(user) {
    resetting = user;
    byId("password-form").reset();
    byId("password-error").hidden = true;
    byId("password-who").textContent = user.name + " · " + user.email;
    resetDialog.showModal();
    byId("password-new").focus();
  }
  byId("password-cancel").addEventListener("click", function () { resetDialog.close(); });
  byId("password-form").addEventListener("submit", function (event) {
    event.preventDefault();
    CC.api("POST", "/api/v1/admin/users/" + resetting.id + "/password",
           { password: byId("password-new").value }).then(function (result) {
      resetDialog.close();
      CC.toast(t("admin.password_reset_done", { name: resetting.name, n: result.data.sessions_ended }), "success");
      if (resetting.id === CC.me.id) location.reload();
    }, function (error) { showError(byId("password-error"), error); });
  });

  // --- configuration -----------------------------------------------------------------------
  function section(title, children) {
    return el("section", { className: "card" }, [el("h2", { text: title })].concat(children));
  }
  function table(heads, rows) {
    return el("table", { className: "table" }, [
      el("thead", {}, [el("tr", {}, heads.map(function (head) { return el("th", { text: head }); }))]),
      el("tbody", {}, rows.map(function (cells) {
        return el("tr", {}, cells.map(function (cell) { return el("td", { text: String(cell) }); }));
      }))
    ]);
  }
  function definitions(pairs) {
    var items = [];
    pairs.forEach(function (pair) { items.push(el("dt", { text: pair[0] }), el("dd", { text: pair[1] })); });
    return el("dl", {}, items);
  }
  function ruleText(conditions) {
    return Object.keys(conditions).map(function (key) {
      var value = conditions[key];
      var named = RULE_VALUES[key] || String;
      return CC.labelOf(RULE_KEYS, key) + ": " + (Array.isArray(value) ? value.map(named) : [named(value)]).join(", ");
    }).join(" · ");
  }
  function showConfig() {
    loadConfig().then(function () {
      var box = byId("config-view");
      if (box.childNodes.length) return;
      var hours = config.business_hours;
      box.appendChild(section(t("admin.config_queues"), [table(
        [t("admin.queue_id"), t("admin.queue_name"), t("admin.queue_kind"), t("admin.user_languages"),
         t("admin.queue_first_response"), t("admin.queue_resolution")],
        config.queues.map(function (q) {
          return [q.id, CC.queueLabel(q), CC.labelOf(QUEUE_KINDS, q.kind), list(q.languages, LANGUAGES),
                  q.sla.first_response, q.sla.resolution];
        }))]));
      box.appendChild(section(t("admin.config_routing"), [
        table([t("admin.rule_number"), t("admin.rule_if"), t("admin.rule_queue")],
              config.routing.rules.map(function (rule, index) {
                return [index + 1, ruleText(rule["if"]), queueName(rule.queue)];
              })),
        definitions([[t("admin.default_queue"), queueName(config.routing.default_queue)],
                     [t("admin.triage_queue"), queueName(config.routing.triage_queue)],
                     [t("admin.min_confidence"), String(config.routing.min_confidence)]])]));
      box.appendChild(section(t("admin.config_hours"), [definitions([
        [t("admin.timezone"), config.timezone],
        [t("admin.working_days"), list(hours.days, DAYS)],
        [t("admin.open_hours"), hours.open + "–" + hours.close],
        [t("admin.holiday_calendar"), hours.holidays || "—"],
        [t("admin.extra_closed_days"), hours.extra_closed_days.join(", ") || "—"],
        [t("admin.extra_open_days"), hours.extra_open_days.join(", ") || "—"]])]));
      box.appendChild(section(t("admin.config_holidays"), [table(
        [t("admin.holiday_date"), t("admin.holiday_name")],
        config.public_holidays.map(function (h) { return [CC.longDate(new Date(h.date + "T12:00:00Z")), h.name]; }))]));
    }).catch(CC.fail);
  }

  // --- audit -------------------------------------------------------------------------------
  function valueText(field, value) {
    if (value === null || value === undefined || value === "") return "—";
    if (field === "role") return CC.labelOf(ROLES, value);
    if (field === "languages") return list(value, LANGUAGES);
    if (field === "queues") return list(value.map(queueName));
    if (field === "capacity") return capacityText(value);
    return String(value);
  }
  function detailsText(details) {
    details = details || {};
    var changes = details.changes || {};
    var values = details.values || {};
    var parts = (details.fields || []).map(function (field) {
      var label = CC.labelOf(FIELDS, field);
      if (changes[field]) return label + ": " + valueText(field, changes[field].from) + " → " + valueText(field, changes[field].to);
      if (Object.prototype.hasOwnProperty.call(values, field)) return label + ": " + valueText(field, values[field]);
      return label;
    });
    if (details.sessions_ended !== undefined) parts.push(t("admin.sessions_ended", { n: details.sessions_ended }));
    // A resident's erasure (inbox/erasure.py): why, and how much went; never whose.
    if (details.reason !== undefined && details.conversations !== undefined) {
      parts.push(t("admin.erased", { reason: CC.labelOf(ERASE_REASONS, details.reason), conversations: details.conversations,
                                     messages: details.messages, files: details.files }));
      if (details.at_providers) parts.push(t("admin.erased_at_providers", { count: details.at_providers }));
      if (details.dead_letters) parts.push(t("admin.erased_dead_letters", { count: details.dead_letters }));
      if (details.reference) parts.push(t("admin.erased_reference", { reference: details.reference }));
    } else if (details.conversations !== undefined && details.messages !== undefined) {
      parts.push(t("admin.exported", { conversations: details.conversations, messages: details.messages }));
    }
    return parts.join("; ");
  }
  function auditRow(item) {
    var target = item.target ? item.target.name + " · " + item.target.email
      : CC.labelOf(TARGET_KINDS, item.target_kind) + " " + item.target_id;
    return el("tr", { data: { auditId: item.id } }, [
      el("td", { text: when(item.created_at) }),
      el("td", { text: item.actor ? item.actor.name : item.actor_id === null ? t("admin.actor_system") : "#" + item.actor_id }),
      el("td", { text: CC.labelOf(item.actor_id === null && SYSTEM_ACTIONS[item.action] ? SYSTEM_ACTIONS : ACTIONS,
                                  item.action) }),
      el("td", { text: target }),
      el("td", { className: "admin-details", text: detailsText(item.details) })
    ]);
  }
  function loadAudit(fresh) {
    if (fresh) auditBefore = null;
    var path = "/api/v1/admin/audit?limit=50" + (auditBefore ? "&before=" + auditBefore : "");
    loadConfig().then(function () { return CC.api("GET", path); }).then(function (result) {
      var rows = byId("audit-rows");
      if (fresh) rows.textContent = "";
      result.data.items.forEach(function (item) { rows.appendChild(auditRow(item)); });
      if (fresh && !result.data.items.length) {
        rows.appendChild(el("tr", {}, [el("td", { colSpan: 5, className: "muted", text: t("admin.audit_empty") })]));
      }
      auditBefore = result.data.next_before;
      byId("audit-more").hidden = !auditBefore;
    }).catch(CC.fail);
  }
  byId("audit-more").addEventListener("click", function () { loadAudit(false); });

  select("users");
})();
