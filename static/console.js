/* The agent console, and the helpers its sibling pages (wall-board, reports) share through
   window.CC: API calls with the CSRF header, DOM building without innerHTML, the live event
   stream, the presence switch. Residents' text is only ever set with textContent. */
(function () {
  "use strict";

  // --- shared helpers ------------------------------------------------------------------------

  var body = document.body;
  var root = document.documentElement;

  // --- texts: the page's catalogue (templates/console/texts.yaml) in the user's language
  var TEXTS = JSON.parse(body.dataset.texts || "{}");
  var LANGUAGE = root.lang || "az";
  var LOCALE = root.dataset.locale || "az-Latn-AZ";
  var ZONE = root.dataset.timezone || "Asia/Baku";

  /* The catalogue's text for `key`, its {placeholders} filled from `values`. Every key
     the scripts use is a literal at its call (a test checks each is in every language); a
     key the catalogue lacks shows as itself, which the browser tests look for. */
  function t(key, values) {
    var text = Object.prototype.hasOwnProperty.call(TEXTS, key) ? TEXTS[key] : key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined && values[name] !== null ? String(values[name]) : whole;
    });
  }
  /* The text of a value out of a fixed set (a status, a channel): `labels` maps each value to
     its text, looked up above; an unknown value shows as it came. */
  function labelOf(labels, value) {
    return Object.prototype.hasOwnProperty.call(labels, value) ? labels[value] : value;
  }
  /* A queue's name in the page's language: the API gives its `names` by language beside
     `name`, the Azerbaijani one. */
  function queueLabel(queue) {
    return (queue.names && queue.names[LANGUAGE]) || queue.name;
  }

  var me = { id: Number(body.dataset.userId) || null, name: body.dataset.userName || "",
             role: body.dataset.userRole || "" };

  function cookie(name) {
    var found = document.cookie.split("; ").filter(function (c) {
      return c.indexOf(name + "=") === 0;
    })[0];
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function ApiError(status, message, data) {
    this.status = status;
    this.message = message;
    this.data = data;
  }

  /* An API error as the user reads it: the text of its stable code (error.CODE) with the
     values the error names, else a word about its status, else about the network. */
  var ERROR_TEXTS = {
    authentication_required: t("error.authentication_required"), bad_request: t("error.bad_request"),
    forbidden: t("error.forbidden"), not_found: t("error.not_found"),
    method_not_allowed: t("error.method_not_allowed"), conflict: t("error.conflict"),
    too_large: t("error.too_large"), not_possible: t("error.not_possible"),
    too_many_requests: t("error.too_many_requests"), internal_error: t("error.internal_error"),
    unavailable: t("error.unavailable"), malformed_json: t("error.malformed_json"),
    csrf_token: t("error.csrf_token"), credentials_required: t("error.credentials_required"),
    wrong_credentials: t("error.wrong_credentials"), login_throttled: t("error.login_throttled"),
    outside_queues: t("error.outside_queues"), conversation_not_found: t("error.conversation_not_found"),
    contact_not_found: t("error.contact_not_found"), agent_not_found: t("error.agent_not_found"),
    match_not_found: t("error.match_not_found"), match_decided: t("error.match_decided"),
    agent_not_in_queue: t("error.agent_not_in_queue"), unknown_queue: t("error.unknown_queue"),
    unknown_template: t("error.unknown_template"), template_values: t("error.template_values"),
    free_text_window_closed: t("error.free_text_window_closed"), body_empty: t("error.body_empty"),
    body_too_long: t("error.body_too_long"), subject_invalid: t("error.subject_invalid"),
    subject_too_long: t("error.subject_too_long"), name_empty: t("error.name_empty"),
    name_invalid: t("error.name_invalid"), name_too_long: t("error.name_too_long"),
    unknown_language: t("error.unknown_language"), supervisors_only: t("error.supervisors_only"),
    take_over_first: t("error.take_over_first"),
    admins_only: t("error.admins_only"), report_date_invalid: t("error.report_date_invalid"),
    report_range_backwards: t("error.report_range_backwards"),
    wrap_up_required: t("error.wrap_up_required"), tags_invalid: t("error.tags_invalid"),
    too_many_tags: t("error.too_many_tags"), unknown_tag: t("error.unknown_tag"),
    contact_field_fixed: t("error.contact_field_fixed"),
    unknown_preferred_channel: t("error.unknown_preferred_channel"),
    outcome_kind_unknown: t("error.outcome_kind_unknown"),
    outcome_reason_required: t("error.outcome_reason_required"),
    outcome_reason_too_long: t("error.outcome_reason_too_long"),
    outcome_centre_unknown: t("error.outcome_centre_unknown"),
    outcome_not_a_case: t("error.outcome_not_a_case"),
    reason_only_when_away: t("error.reason_only_when_away"),
    unknown_away_reason: t("error.unknown_away_reason"), bad_page: t("error.bad_page"),
    upload_too_large: t("error.upload_too_large"), upload_empty: t("error.upload_empty"),
    upload_type_not_allowed: t("error.upload_type_not_allowed"), upload_unknown: t("error.upload_unknown"),
    too_many_attachments: t("error.too_many_attachments"),
    files_not_to_this_number: t("error.files_not_to_this_number"),
    file_type_not_carried: t("error.file_type_not_carried"),
    file_too_large_for_channel: t("error.file_too_large_for_channel"),
    channel_carries_no_files: t("error.channel_carries_no_files"),
    media_link_invalid: t("error.media_link_invalid"), no_preview: t("error.no_preview"),
    email_invalid: t("error.email_invalid"), unknown_role: t("error.unknown_role"),
    agent_without_queues: t("error.agent_without_queues"),
    languages_required: t("error.languages_required"),
    password_too_short: t("error.password_too_short"), capacity_invalid: t("error.capacity_invalid"),
    voice_address_invalid: t("error.voice_address_invalid"), email_taken: t("error.email_taken"),
    user_not_found: t("error.user_not_found"), cannot_demote_self: t("error.cannot_demote_self"),
    cannot_deactivate_self: t("error.cannot_deactivate_self"),
    canned_variable_unknown: t("error.canned_variable_unknown"),
    canned_braces_broken: t("error.canned_braces_broken"), canned_text_invalid: t("error.canned_text_invalid"),
    canned_key_invalid: t("error.canned_key_invalid"), canned_key_taken: t("error.canned_key_taken"),
    canned_queue_unknown: t("error.canned_queue_unknown"), canned_not_found: t("error.canned_not_found"),
    canned_default_unknown: t("error.canned_default_unknown"),
    reason_invalid: t("error.reason_invalid"), reference_invalid: t("error.reference_invalid"),
    unknown_fields: t("error.unknown_fields"), contact_erased: t("error.contact_erased"),
    contact_merged: t("error.contact_merged"), format_invalid: t("error.format_invalid"),
    query_repeated: t("error.query_repeated"),
    contact_has_open_conversations: t("error.contact_has_open_conversations")
  };
  function errorText(error) {
    var data = (error && error.data && typeof error.data === "object") ? error.data : {};
    if (data.code && Object.prototype.hasOwnProperty.call(ERROR_TEXTS, data.code)) {
      return ERROR_TEXTS[data.code].replace(/\{(\w+)\}/g, function (whole, name) {
        return data[name] !== undefined && data[name] !== null ? String(data[name]) : whole;
      });
    }
    if (error && error.status) return t("error.http", { status: error.status });
    return t("error.network");
  }

  function toLogin() {
    location.href = "/console/login?next=" + encodeURIComponent(location.pathname);
  }

  /* fetch() against the agent API; resolves {status, data}, rejects with ApiError. */
  function api(method, path, payload) {
    var headers = { "Accept": "application/json" };
    var options = { method: method, headers: headers, credentials: "same-origin" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = cookie("cc_csrf");
      options.body = JSON.stringify(payload || {});
    }
    return fetch(path, options).then(function (response) {
      if (response.status === 401 && body.dataset.page !== "login") {
        toLogin();
        throw new ApiError(401, "signed out");
      }
      var type = response.headers.get("Content-Type") || "";
      var parse = response.status === 204 ? Promise.resolve(null)
        : type.indexOf("json") >= 0 ? response.json() : response.text();
      return parse.then(function (data) {
        if (!response.ok) {
          throw new ApiError(response.status,
            (data && data.error) || ("HTTP " + response.status), data);
        }
        return { status: response.status, data: data };
      });
    });
  }

  /* el("div", {className: "x", text: "y", title: "z", data: {id: 1}}, [child, "text"]) */
  function el(tag, props, children) {
    var node = document.createElement(tag);
    Object.keys(props || {}).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else if (key === "data") Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; });
      else if (key === "on") Object.keys(value).forEach(function (k) { node.addEventListener(k, value[k]); });
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  /* setOf(["a", "b"]) -> {a: true, b: true}: membership tests for a list of names */
  function setOf(names) {
    var set = {};
    names.forEach(function (name) { set[name] = true; });
    return set;
  }

  var SVG_NS = "http://www.w3.org/2000/svg";
  var CHANNELS = {
    webchat: { label: t("channel.webchat"), path: "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z" },
    sms: { label: t("channel.sms"), path: "M7 2h10a2 2 0 0 1 2 2v16a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm0 3v13h10V5H7zm4 14.5h2" },
    whatsapp: { label: t("channel.whatsapp"), path: "M12 2a10 10 0 0 0-8.7 14.9L2 22l5.3-1.3A10 10 0 1 0 12 2zm-3.5 5.5c.3 0 .6 0 .8.6l.9 2.1c.1.3 0 .5-.2.7l-.6.7c.8 1.5 2 2.6 3.5 3.4l.7-.8c.2-.2.5-.3.8-.2l2 .9c.4.2.5.4.4.8-.2 1.1-1.3 1.9-2.4 1.8-3.6-.4-7-3.8-7.3-7.4-.1-1.2.6-2.3 1.4-2.6z" },
    voice: { label: t("channel.voice_call"), path: "M6.6 10.8a15 15 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1l-2.3 2.2z" },
    telegram: { label: t("channel.telegram"), path: "M21.5 3.5 2.8 10.8c-1 .4-1 1.2-.2 1.5l4.8 1.5 1.8 5.6c.2.6.4.8.9.8.4 0 .6-.2.9-.5l2.3-2.2 4.8 3.5c.9.5 1.5.2 1.7-.8l3.1-14.8c.3-1.3-.5-1.9-1.4-1.9zM9 13.6l9-5.7-7.3 6.8-.3 3.2L9 13.6z" },
    email: { label: t("channel.email"), path: "M3 5h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1zm1 2.4V17h16V7.4l-8 5.3-8-5.3zM5.2 7 12 11.5 18.8 7H5.2z" }
  };

  var SOUND_ON = "M4 9h4l5-4v14l-5-4H4V9zm12.5 3a4.5 4.5 0 0 0-2.5-4v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z";
  var SOUND_OFF = "M4 9h4l5-4v14l-5-4H4V9zm12.3.3 1.4-1.4 2.1 2.1 2.1-2.1 1.4 1.4-2.1 2.1 2.1 2.1-1.4 1.4-2.1-2.1-2.1 2.1-1.4-1.4 2.1-2.1-2.1-2.1z";

  function icon(pathData) {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("class", "icon");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", pathData);
    svg.appendChild(path);
    return svg;
  }

  function channelIcon(channel) {
    var known = CHANNELS[channel] || { label: channel || t("channel.unknown"), path: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z" };
    return el("span", { className: "ch-icon ch-" + (channel || "unknown"), title: known.label,
                        role: "img", "aria-label": known.label }, [icon(known.path)]);
  }

  function channelLabel(channel) {
    return (CHANNELS[channel] || { label: channel }).label;
  }

  var NUMBER = new Intl.NumberFormat(LOCALE);
  function number(value) { return NUMBER.format(value); }
  function duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return t("unit.seconds", { n: seconds });
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return t("unit.minutes", { n: minutes });
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return t("unit.hours", { n: hours }) + (minutes % 60 ? " " + t("unit.minutes", { n: minutes % 60 }) : "");
    var days = Math.floor(hours / 24);
    return t("unit.days", { n: days }) + (hours % 24 ? " " + t("unit.hours", { n: hours % 24 }) : "");
  }

  function since(iso) {
    return iso ? (Date.now() - new Date(iso).getTime()) / 1000 : null;
  }

  /* Dates and times as the user's language writes them, on the deployment's clock (Asia/Baku).
     Intl gives the figures in that zone; the words (month names) come from the catalogue, as
     browsers' own locale data for Azerbaijani is often missing (Chromium writes "2026 M03 20"). */
  var FIGURES = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "numeric", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZone: ZONE });
  var MONTHS = [t("date.month_1"), t("date.month_2"), t("date.month_3"), t("date.month_4"),
                t("date.month_5"), t("date.month_6"), t("date.month_7"), t("date.month_8"),
                t("date.month_9"), t("date.month_10"), t("date.month_11"), t("date.month_12")];
  var MONTHS_SHORT = [t("date.mon_1"), t("date.mon_2"), t("date.mon_3"), t("date.mon_4"),
                      t("date.mon_5"), t("date.mon_6"), t("date.mon_7"), t("date.mon_8"),
                      t("date.mon_9"), t("date.mon_10"), t("date.mon_11"), t("date.mon_12")];
  function figures(date) {
    var out = {};
    FIGURES.formatToParts(date).forEach(function (part) { out[part.type] = part.value; });
    return { year: Number(out.year), month: Number(out.month), day: Number(out.day),
             hour: out.hour, minute: out.minute, second: out.second };
  }
  function clock(iso) {
    if (!iso) return "";
    var at = figures(new Date(iso));
    var today = figures(new Date());
    var time = at.hour + ":" + at.minute;
    if (at.year === today.year && at.month === today.month && at.day === today.day) return time;
    return t("date.day_month", { day: at.day, month: MONTHS_SHORT[at.month - 1] }) + " " + time;
  }
  function timeWithSeconds(date) {
    var at = figures(date);
    return at.hour + ":" + at.minute + ":" + at.second;
  }
  function longDate(date) {
    var at = figures(date);
    return t("date.long", { day: at.day, month: MONTHS[at.month - 1], year: at.year });
  }
  function shortDate(date) {
    var at = figures(date);
    return t("date.numeric_day_month", { day: at.day, month: (at.month < 10 ? "0" : "") + at.month });
  }

  function maskPhone(phone) {
    if (!phone) return "";
    var digits = String(phone).replace(/^whatsapp:/, "");
    if (digits.length <= 6) return digits;
    return digits.slice(0, 6) + " ••• " + digits.slice(-2);
  }

  function toast(text, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    // A value left empty in a text ("#12 {name} (…)" without a name) leaves no double space.
    var item = el("div", { className: "toast toast-" + (kind || "info"), text: String(text).replace(/ {2,}/g, " ") });
    box.appendChild(item);
    setTimeout(function () { item.classList.add("toast-out"); }, 3500);
    setTimeout(function () { item.remove(); }, 4000);
  }

  function fail(error) {
    if (error && error.status === 401) return;
    toast(errorText(error), "error");
  }

  /* The live event stream. handlers: {type: fn(data)}, plus onresync(first) after a reconnect
     and on the first connection (what a page loaded before the stream listened may have missed:
     the server subscribes before it answers, so nothing after the open is lost). */
  function live(handlers) {
    var indicator = document.getElementById("live-state");
    var source = null;
    var dropped = false, opened = false;
    function show(state, label) {
      if (!indicator) return;
      indicator.dataset.state = state;
      indicator.querySelector(".live-label").textContent = label;
    }
    function connect() {
      source = new EventSource("/api/v1/stream");
      source.onopen = function () {
        show("live", t("live.live"));
        if ((dropped || !opened) && handlers.onresync) handlers.onresync(!opened);
        dropped = false;
        opened = true;
      };
      source.onerror = function () {
        dropped = true;
        show("down", t("live.reconnecting"));
        if (source.readyState === EventSource.CLOSED) {
          // The server refused (signed out?): check, then retry ourselves.
          api("GET", "/api/v1/me").then(function () { setTimeout(connect, 3000); }, function () {});
        }
      };
      Object.keys(handlers).forEach(function (type) {
        if (type.indexOf(".") < 0) return;
        source.addEventListener(type, function (event) {
          var data;
          try { data = JSON.parse(event.data); } catch (e) { return; }
          // Sibling scripts (console-notify.js) hear each event first, before the page's
          // own handler has changed what it knows of the conversation.
          document.dispatchEvent(new CustomEvent("cc:live", { detail: { type: type, data: data } }));
          handlers[type](data, type);
        });
      });
    }
    connect();
    return { close: function () { if (source) source.close(); } };
  }

  /* The presence switch in the top bar; a heartbeat re-posts it every 60 s. */
  function setupPresence() {
    var group = document.getElementById("presence");
    if (!group) return;
    var current = null;
    function mark(state) {
      current = state;
      group.dataset.presence = state;
      group.querySelectorAll("button").forEach(function (button) {
        button.setAttribute("aria-checked", String(button.dataset.presence === state));
      });
    }
    /* Away for a reason (config away_reasons): the list shows while away; choosing one
       re-posts "away" with it, and the wall-board and reports count the time per reason. */
    var reasons = document.getElementById("away-reason");
    function showReason(state, reason) {
      if (!reasons) return;
      reasons.hidden = state !== "away";
      reasons.value = reason || "";
    }
    function post(state) {
      var body = { presence: state };
      if (state === "away" && reasons && reasons.value) body.reason = reasons.value;
      return api("POST", "/api/v1/me/presence", body).then(function (result) {
        mark(result.data.presence);
        showReason(result.data.presence, result.data.presence_reason);
      });
    }
    group.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-presence]");
      if (button) post(button.dataset.presence).catch(fail);
    });
    if (reasons) reasons.addEventListener("change", function () { post("away").catch(fail); });
    api("GET", "/api/v1/me").then(function (result) {
      me.id = result.data.id;
      me.name = result.data.name;
      mark(result.data.presence);
      showReason(result.data.presence, result.data.presence_reason);
    }).catch(fail);
    setInterval(function () { if (current) post(current).catch(function () {}); }, 60000);
    return { mark: mark, current: function () { return current; } };
  }

  /* The language switcher in the top bar: saved on the user's account, then the page is
     built again in it. */
  function setupLanguage() {
    var select = document.getElementById("ui-language");
    if (!select) return;
    select.addEventListener("change", function () {
      var chosen = select.value;
      api("POST", "/api/v1/me/language", { language: chosen }).then(function () {
        location.reload();
      }, function (error) {
        select.value = LANGUAGE;
        fail(error);
      });
    });
  }

  function setupLogout() {
    var button = document.getElementById("logout");
    if (!button) return;
    button.addEventListener("click", function () {
      api("POST", "/api/v1/auth/logout").then(function () {
        location.href = "/console/login";
      }, fail);
    });
  }

  window.CC = { api: api, el: el, icon: icon, channelIcon: channelIcon, channelLabel: channelLabel,
                duration: duration, since: since, clock: clock, toast: toast, fail: fail,
                live: live, me: me, t: t, labelOf: labelOf, queueLabel: queueLabel, errorText: errorText,
                number: number, timeWithSeconds: timeWithSeconds, longDate: longDate,
                shortDate: shortDate,
                locale: LOCALE, zone: ZONE,
                hooks: {} };   // set by feature scripts, called by this one

  // --- login page ----------------------------------------------------------------------------

  /* Where to go after signing in: `next` only as the browser itself resolves it, and only if
     that stays on this site (the server checks too; this holds whatever the page was given). */
  function sameOriginPath(next) {
    var url;
    try { url = new URL(next || "/console", location.origin); } catch (e) { return "/console"; }
    if (url.origin !== location.origin) return "/console";
    return url.pathname + url.search + url.hash;
  }

  function loginPage() {
    var form = document.getElementById("login-form");
    var error = document.getElementById("login-error");
    var email = document.getElementById("login-email");
    var password = document.getElementById("login-password");
    function show(message, field) {
      error.textContent = message;
      error.hidden = false;
      [email, password].forEach(function (input) {
        if (input === field) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      });
      if (field) field.focus();
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      error.hidden = true;
      var address = email.value.trim();
      if (!address || !password.value) {
        show(!address && !password.value ? t("login.need_both") : !address ? t("login.need_email") : t("login.need_password"),
             !address ? email : password);
        return;
      }
      var submit = document.getElementById("login-submit");
      submit.disabled = true;
      api("POST", "/api/v1/auth/login", { email: address, password: password.value }).then(function () {
        location.href = sameOriginPath(form.dataset.next);
      }, function (err) {
        show(errorText(err));
        submit.disabled = false;
      });
    });
  }

  // --- the console ---------------------------------------------------------------------------

  var CATEGORY_LABELS = { inquiry: t("category.inquiry"), registration: t("category.registration"),
                          support: t("category.support") };
  var STATUS_LABELS = { intake: t("status.intake"), waiting: t("status.waiting"), open: t("status.open"),
                        pending: t("status.pending"), resolved: t("status.resolved") };
  var DELIVERY = {
    queued: { mark: "◷", label: t("delivery.queued") }, sent: { mark: "✓", label: t("delivery.sent") },
    delivered: { mark: "✓✓", label: t("delivery.delivered") }, read: { mark: "✓✓", label: t("delivery.read") },
    failed: { mark: "!", label: t("delivery.failed") }, received: { mark: "", label: t("delivery.received") }
  };
  // The outbox's internal claim is still "queued" to agents (as the API says it).
  var DELIVERY_ALIASES = { sending: "queued" };
  var LANGUAGE_NAMES = { az: t("call.language_az"), ru: t("call.language_ru"), en: t("call.language_en") };
  var CALL_REASONS = { registration: t("call.reason_registration"), support: t("call.reason_support"),
                       information: t("call.reason_information"), operator: t("call.reason_operator") };
  // A missed call's reason and a call's end status: the inbox's neutral call outcomes.
  var MISSED_REASONS = {
    no_answer: t("call.missed_no_answer"), busy: t("call.missed_busy"), canceled: t("call.missed_canceled"),
    failed: t("call.missed_failed"), closed: t("call.missed_closed"), no_agent: t("call.missed_no_agent"),
    hung_up_in_menu: t("call.missed_hung_up_in_menu")
  };
  var PRESENCE_ORDER = { online: 0, away: 1, offline: 2 };
  var PRESENCE_STATES = { online: t("presence.state_online"), away: t("presence.state_away"),
                          offline: t("presence.state_offline") };
  // A presence on its own (a colleague's dot): capitalised as the top bar's switch writes it.
  var PRESENCE_LABELS = { online: t("presence.online"), away: t("presence.away"), offline: t("presence.offline") };
  var MATCH_KINDS = { fin: t("match.fin"), id_card: t("match.id_card"), phone: t("match.phone"),
                      email: t("match.email") };

  function consolePage() {
    var state = {
      filters: { assignee: "", status: "", queue: "", channel: "", category: "", q: "" },
      items: [],             // conversations shown, in order
      byId: {},
      cursor: null,
      selected: null,        // id of the open conversation
      detail: null,          // the open conversation with messages and events
      contact: null,
      queues: {},            // id -> queue
      worked: {},            // id -> true: the queues whose conversations this user sees
      agents: {},            // id -> {id, name, presence}
      unread: {},            // id -> true: activity not yet seen
      canned: null,
      tags: null,            // GET /api/v1/tags: {tags: [...], wrap_up_required: [queue ids]}
      templates: null,       // approved templates (of the channels that have them)
      channels: {},          // name -> what the server says of the channel (GET /api/v1/channels)
      plainText: {},         // message id -> true: the agent chose the plain text of an e-mail
      quotedOpen: {},        // message id -> true: the agent opened a mail's quoted part
      originalOpen: {},      // message id -> true: the agent opened a mail's original (HTML)
      subjectFor: null,      // the conversation whose reply subject the composer holds
      subjectDefault: "",    // the subject the server proposed for it (mail_reply.subject)
      mode: "reply",
      listToken: 0
    };
    var list = document.getElementById("conversation-list");
    var listEmpty = document.getElementById("list-empty");
    var loadMore = document.getElementById("load-more");
    var thread = document.getElementById("thread");
    var composer = document.getElementById("composer");
    var composerText = document.getElementById("composer-text");
    var cannedBox = document.getElementById("canned");
    var cannedSearch = document.getElementById("canned-search");
    var cannedList = document.getElementById("canned-list");
    var cannedLanguage = document.getElementById("canned-language");
    var frameCss = thread.dataset.frameCss || "";
    // The groups of event types come from the server (inbox/events.py), not from a copy here.
    var eventGroups = JSON.parse(thread.dataset.eventGroups);
    var CALL_EVENTS = setOf(eventGroups.call);        // shown with the phone's icon
    var MESSAGE_EVENTS = setOf(eventGroups.message);  // the thread shows their message instead
    var callText = thread.dataset.callText || "";   // the text of a call's own item
    var MAIL_TEXTS = { show_quoted: t("mail.show_quoted"), hide_quoted: t("mail.hide_quoted"),
                       show_original: t("mail.show_original"), hide_original: t("mail.hide_original") };
    var composerNotice = document.getElementById("composer-notice");
    var presence = setupPresence();
    var sound = soundToggle();
    // What sibling scripts (console-notify.js, console-timeline.js) may ask of this page.
    window.CC.console = {
      conversation: function (id) { return state.byId[id] || (state.detail && state.detail.id === id ? state.detail : null); },
      selected: function () { return state.selected; },
      open: function (id) { return openConversation(id); },
      contactName: function (contact) { return contactName(contact); },
      sound: function () { sound.play(); }
    };
    var baseTitle = document.title;
    var unseenNew = 0;

    // -- names
    function agentName(id) {
      if (id === null || id === undefined) return null;
      if (id === me.id) return t("agent.you");
      var agent = state.agents[id];
      return agent && agent.name ? agent.name : t("agent.numbered", { id: id });
    }
    function queueName(id) {
      var queue = state.queues[id];
      return queue ? queueLabel(queue) : (id || "–");
    }
    function contactName(contact) {
      if (!contact) return t("contact.unknown");
      if (contact.erased) return t("contact.erased_name");
      return contact.name || maskPhone(contact.phone) || contact.email || t("contact.numbered", { id: contact.id });
    }

    // -- reference data
    function loadChannels() {
      return api("GET", "/api/v1/channels").then(function (result) {
        result.data.forEach(function (channel) { state.channels[channel.name] = channel; });
      }).catch(fail);
    }
    function channelHas(channel, trait) {
      return Boolean(state.channels[channel] && state.channels[channel][trait]);
    }
    function loadQueues() {
      return api("GET", "/api/v1/queues").then(function (result) {
        var select = document.getElementById("filter-queue");
        result.data.forEach(function (queue) {
          state.queues[queue.id] = queue;
          state.worked[queue.id] = true;
          select.appendChild(el("option", { value: queue.id, text: queueLabel(queue), title: queueLabel(queue) }));
        });
      }).catch(fail);
    }
    function loadAgents() {
      // A directory of agents names the assignees; /api/v1/agents when the API has it, else
      // the wall-board's agent list (supervisors), else ids only.
      function take(agents) {
        agents.forEach(function (agent) { state.agents[agent.id] = agent; });
        renderList();
        if (state.detail) renderHeader(state.detail);
      }
      return api("GET", "/api/v1/agents").then(function (result) {
        take(result.data.items || result.data);
      }, function () {
        if (me.role !== "supervisor" && me.role !== "admin") return;
        return api("GET", "/api/v1/wallboard").then(function (result) {
          take(result.data.agents || []);
        }, function () {});
      });
    }

    // -- the list
    function query(cursor) {
      var params = new URLSearchParams();
      Object.keys(state.filters).forEach(function (key) {
        if (state.filters[key]) params.set(key, state.filters[key]);
      });
      params.set("limit", "50");
      if (cursor) params.set("cursor", cursor);
      return "/api/v1/conversations?" + params.toString();
    }
    function loadList(append) {
      var token = ++state.listToken;
      return api("GET", query(append ? state.cursor : null)).then(function (result) {
        if (token !== state.listToken) return;   // a newer filter won
        if (!append) { state.items = []; state.byId = {}; }
        result.data.items.forEach(function (c) {
          if (!state.byId[c.id]) state.items.push(c);
          state.byId[c.id] = c;
        });
        state.items = state.items.map(function (c) { return state.byId[c.id]; });
        state.cursor = result.data.next_cursor;
        renderList();
      }).catch(fail);
    }
    function matches(c) {
      var f = state.filters;
      if (f.q) return Boolean(state.byId[c.id]);   // the server decides text matches
      if (f.queue && c.queue !== f.queue) return false;
      if (f.channel && c.channel !== f.channel) return false;
      if (f.category && c.category !== f.category) return false;
      if (f.status && c.status !== f.status) return false;
      if (f.assignee === "me" && c.assignee !== me.id) return false;
      if (f.assignee === "none" && c.assignee !== null) return false;
      return true;
    }
    function sortItems() {
      state.items.sort(function (a, b) {
        return (b.last_message_at || "").localeCompare(a.last_message_at || "") || b.id - a.id;
      });
    }
    function upsert(c, isNew) {
      var known = Boolean(state.byId[c.id]);
      if (!matches(c)) {
        if (known) {
          delete state.byId[c.id];
          state.items = state.items.filter(function (x) { return x.id !== c.id; });
        }
      } else {
        if (!known) state.items.push(c);
        state.byId[c.id] = c;
        state.items = state.items.map(function (x) { return x.id === c.id ? c : x; });
        sortItems();
      }
      renderList(isNew && !known ? c.id : null);
    }

    /* The SLA clock running now: the server's sla_state (ok, at_risk, breached) decides the
       colour; sla_due_at says when. A due time already past is red even before the server's
       sweep has marked it. */
    function slaInfo(c) {
      if (!c.sla_due_at || c.status === "resolved") return null;
      var resolution = Boolean(c.first_response_at);
      var left = (new Date(c.sla_due_at).getTime() - Date.now()) / 1000;
      var due = clock(c.sla_due_at);
      if (c.sla_state === "breached" || left < 0) {
        var values = { due: due, ago: duration(-left) };
        return { level: "breached", state: "breached",
                 text: left < 0 ? (resolution ? t("sla.resolution_breached_ago", values) : t("sla.first_breached_ago", values))
                   : (resolution ? t("sla.resolution_breached", values) : t("sla.first_breached", values)) };
      }
      var timing = { due: due, left: duration(left) };
      if (c.sla_state === "at_risk") {
        return { level: "risk", state: "at_risk",
                 text: resolution ? t("sla.resolution_at_risk", timing) : t("sla.first_at_risk", timing) };
      }
      return { level: "ok", state: "ok", text: resolution ? t("sla.resolution_due", timing) : t("sla.first_due", timing) };
    }
    function waitLabel(c) {
      if (!c.first_response_at && c.status !== "resolved") {
        return { text: duration(since(c.created_at)), title: t("list.waiting_since", { time: clock(c.created_at) }) };
      }
      return { text: duration(since(c.last_message_at)), title: t("list.last_activity", { time: clock(c.last_message_at) }) };
    }
    function categoryBadge(c) {
      if (!c.category) return el("span", { className: "badge badge-none", text: t("category.none") });
      var confidence = c.category_confidence === null || c.category_confidence === undefined
        ? null : Math.round(c.category_confidence * 100);
      var low = confidence !== null && confidence < 60;
      return el("span", {
        className: "badge badge-" + c.category + (low ? " badge-low" : ""),
        title: confidence !== null
          ? t("category.badge_confidence", { category: labelOf(CATEGORY_LABELS, c.category), confidence: confidence })
          : t("category.badge", { category: labelOf(CATEGORY_LABELS, c.category) })
      }, [labelOf(CATEGORY_LABELS, c.category),
          confidence !== null ? el("span", { className: "conf", text: confidence + "%" }) : null]);
    }
    function rowFor(c, flash) {
      var wait = waitLabel(c);
      var sla = slaInfo(c);
      var assignee = agentName(c.assignee);
      var row = el("li", {
        className: "conv-row" + (c.id === state.selected ? " selected" : "")
          + (state.unread[c.id] ? " unread" : "") + (flash ? " flash" : ""),
        role: "option", "aria-selected": String(c.id === state.selected),
        data: { id: c.id, status: c.status }, tabIndex: -1
      }, [
        channelIcon(c.channel),
        el("div", { className: "row-main" }, [
          el("div", { className: "row-top" }, [
            el("span", { className: "row-name", text: contactName(c.contact) }),
            c.status !== "open" ? el("span", { className: "status-tag status-" + c.status, text: labelOf(STATUS_LABELS, c.status) }) : null,
            el("span", { className: "row-wait", text: wait.text, title: wait.title })
          ]),
          el("div", { className: "row-bottom" }, [
            categoryBadge(c),
            c.language ? el("span", { className: "chip chip-lang", text: c.language.toUpperCase(), title: t("list.language") }) : null,
            el("span", { className: "row-queue", text: queueName(c.queue), title: queueName(c.queue) }),
            el("span", { className: "row-right" }, [
              sla ? el("span", { className: "sla-dot sla-" + sla.level, title: sla.text, "aria-label": sla.text,
                                 role: "img", data: { sla: sla.state } }) : null,
              el("span", { className: "row-assignee" + (assignee ? "" : " muted"),
                           text: assignee || t("filter.unassigned"), title: t("list.assignee") })
            ])
          ])
        ])
      ]);
      return row;
    }
    function renderList(flashId) {
      list.textContent = "";
      state.items.forEach(function (c) { list.appendChild(rowFor(c, c.id === flashId)); });
      listEmpty.hidden = state.items.length > 0;
      loadMore.hidden = !state.cursor;
    }
    list.addEventListener("click", function (event) {
      var row = event.target.closest(".conv-row");
      if (row) openConversation(Number(row.dataset.id));
    });
    loadMore.addEventListener("click", function () { loadList(true); });

    // -- filters
    document.getElementById("assignee-tabs").addEventListener("click", function (event) {
      var tab = event.target.closest("button[data-assignee]");
      if (!tab) return;
      this.querySelectorAll("button").forEach(function (b) {
        b.setAttribute("aria-selected", String(b === tab));
      });
      state.filters.assignee = tab.dataset.assignee;
      loadList(false);
    });
    [["filter-status", "status"], ["filter-queue", "queue"], ["filter-channel", "channel"],
     ["filter-category", "category"]].forEach(function (pair) {
      document.getElementById(pair[0]).addEventListener("change", function () {
        state.filters[pair[1]] = this.value;
        loadList(false);
      });
    });
    var searchTimer = null;
    document.getElementById("search").addEventListener("input", function () {
      var value = this.value.trim();
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () { state.filters.q = value; loadList(false); }, 250);
    });

    // -- the open conversation
    function openConversation(id) {
      if (!id) return Promise.resolve();
      var changed = state.selected !== id;
      state.selected = id;
      delete state.unread[id];
      if (changed) {
        composerText.value = "";
        document.getElementById("resident-typing").hidden = true;
        state.subjectFor = null;
        closeCanned();
        hideComposerNotice();
        setMode("reply");
      }
      renderList();
      var row = list.querySelector('[data-id="' + id + '"]');
      if (row) row.scrollIntoView({ block: "nearest" });
      return refreshDetail(true);
    }
    function refreshDetail(scrollToEnd) {
      var id = state.selected;
      var asked = Date.now();
      return api("GET", "/api/v1/conversations/" + id).then(function (result) {
        if (state.selected !== id) return;
        result.data.messages.forEach(function (m) { applyLiveDelivery(m, asked); });
        var contactChanged = !state.detail || state.detail.id !== id
          || state.detail.contact.id !== result.data.contact.id;
        state.detail = result.data;
        if (state.byId[id]) {
          var summary = Object.assign({}, result.data);
          delete summary.messages;
          delete summary.events;
          state.byId[id] = summary;
          state.items = state.items.map(function (x) { return x.id === id ? summary : x; });
          renderList();
        }
        renderDetail(scrollToEnd);
        document.dispatchEvent(new CustomEvent("cc:conversation", { detail: result.data }));
        loadContact(result.data.contact.id, contactChanged);
      }).catch(fail);
    }
    var refreshTimer = null;
    function refreshSoon() {
      clearTimeout(refreshTimer);
      refreshTimer = setTimeout(function () { if (state.selected) refreshDetail(false); }, 150);
    }

    function renderHeader(c) {
      document.getElementById("conv-name").textContent = contactName(c.contact);
      var meta = document.getElementById("conv-meta");
      meta.textContent = "";
      var sla = slaInfo(c);
      meta.appendChild(channelIcon(c.channel));
      meta.appendChild(el("span", { text: channelLabel(c.channel) }));
      meta.appendChild(el("span", { className: "sep", text: "·" }));
      meta.appendChild(el("span", { text: "#" + c.id }));
      // The queue starts a line of its own: its name is often long enough to wrap anyway,
      // which left a separator dangling at the end of the line above.
      meta.appendChild(el("span", { className: "meta-break", "aria-hidden": "true" }));
      meta.appendChild(el("span", { className: "meta-queue", text: queueName(c.queue), title: t("header.queue", { queue: queueName(c.queue) }) }));
      if (c.language) meta.appendChild(el("span", { className: "chip chip-lang", text: c.language.toUpperCase() }));
      meta.appendChild(el("span", { className: "status-tag status-" + c.status, id: "conv-status",
                                    text: labelOf(STATUS_LABELS, c.status) }));
      meta.appendChild(el("span", { className: "muted", text: t("header.assignee", { agent: agentName(c.assignee) || t("header.nobody") }) }));
      if (sla) meta.appendChild(el("span", { className: "sla-text sla-" + sla.level, title: sla.text },
                                       [el("span", { className: "sla-dot sla-" + sla.level }), sla.text]));
      if (c.reply_to) {
        meta.appendChild(el("span", { className: "chip chip-reply-to", id: "conv-reply-to", title: t("reply_to.title"),
                                      text: t("reply_to.where", { where: [c.reply_to.phone, c.reply_to.email].filter(Boolean).join(" · ") }) }));
      }
      var category = document.getElementById("conv-category");
      category.textContent = "";
      category.appendChild(categoryBadge(c));
      document.getElementById("category-select").value = c.category || "inquiry";
      renderTags(c);
      var resolved = c.status === "resolved";
      document.getElementById("act-resolve").hidden = resolved;
      document.getElementById("act-pending").hidden = resolved || c.status === "pending";
      document.getElementById("act-reopen").hidden = !resolved && c.status !== "pending";
      document.getElementById("act-assign-me").hidden = c.assignee === me.id;
      composer.dataset.conversation = c.id;
      composer.dataset.files = channelHas(c.channel, "files") ? "yes" : "no";
      document.getElementById("composer-channel").textContent =
        state.mode === "reply" ? t("composer.goes_out_by", { channel: channelLabel(c.channel) }) : MODE_TEXTS[state.mode].hint;
      document.getElementById("template-open").hidden = !channelHas(c.channel, "templates") || state.mode !== "reply";
      // Feature scripts (console-supervise.js) adapt the page to the conversation shown.
      if (window.CC.hooks.conversationShown) window.CC.hooks.conversationShown(c);
    }

    /* The resident's Telegram account as the message came: "Name @username". */
    function telegramHandle(t) {
      return [t.name, t.username ? "@" + t.username : null].filter(Boolean).join(" ");
    }
    function authorLabel(m) {
      var kind = m.author ? m.author.kind : null;
      if (m.direction === "in") return contactName(state.detail.contact);
      if (kind === "agent") return agentName(m.author.id) || t("author.agent");
      if (kind === "system") return t("author.auto_reply");
      return kind ? labelOf(AUTHOR_KINDS, kind) : t("author.system");
    }
    var AUTHOR_KINDS = { resident: t("author.resident"), agent: t("author.agent"), system: t("author.system") };
    function safeUrl(url) {
      if (!url) return null;
      try {
        var parsed = new URL(url, location.href);
        return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
      } catch (e) { return null; }
    }
    function size(bytes) {
      if (!bytes && bytes !== 0) return "";
      if (bytes < 1024) return t("size.bytes", { n: number(bytes) });
      if (bytes < 1048576) return t("size.kilobytes", { n: number(Math.round(bytes / 1024)) });
      return t("size.megabytes", { n: number(Math.round(bytes / 104857.6) / 10) });
    }
    function attachmentNode(a) {
      var url = safeUrl(a.url);
      var name = a.filename || a.content_type || t("attachment.unnamed");
      var type = a.content_type || "";
      var label = [name, size(a.size)].filter(Boolean).join(" · ");
      if (a.error) {
        // Why it never arrived (refused type, too large, the provider said no): no link.
        return el("span", { className: "attachment attachment-error", title: a.error }, [
          el("span", { className: "attachment-name", text: label }),
          el("span", { className: "attachment-reason", text: a.error })]);
      }
      if (!url) return el("span", { className: "attachment attachment-file muted", text: t("attachment.not_fetched", { name: label }) });
      if (/^image\//.test(type)) {
        return el("a", { className: "attachment attachment-image", href: url, target: "_blank",
                         rel: "noopener noreferrer", title: name },
                  [el("img", { src: url, alt: name, loading: "lazy" })]);
      }
      if (/^audio\//.test(type)) {
        return el("div", { className: "attachment attachment-audio" }, [
          el("audio", { controls: true, preload: "none", src: url, "aria-label": name }),
          el("a", { className: "attachment-download", href: url, download: a.filename || "",
                    target: "_blank", rel: "noopener noreferrer", text: "⤓ " + label })]);
      }
      if (type === "application/pdf") {
        // A document: its first page drawn by the server (never the PDF itself in this page),
        // which opens larger in the viewer; the link saves the file.
        var page = el("img", { className: "attachment-preview", src: url + "/preview", alt: name,
                               loading: "lazy" });
        page.addEventListener("error", function () { page.remove(); });   // 422: not drawable
        return el("a", { className: "attachment attachment-file attachment-pdf attachment-image", href: url,
                         download: a.filename || "", target: "_blank", rel: "noopener noreferrer",
                         title: name, "data-preview": url + "/preview" },
                  [page, el("span", { className: "attachment-name",
                                      text: t("attach.open_pdf", { name: name, size: size(a.size) }) })]);
      }
      return el("a", { className: "attachment attachment-file", href: url, download: a.filename || "",
                       target: "_blank", rel: "noopener noreferrer", text: "⤓ " + label });
    }
    function deliveryStatus(m) {
      return DELIVERY_ALIASES[m.delivery_status] || m.delivery_status;
    }
    function deliveryNode(m) {
      var status = deliveryStatus(m);
      if (m.direction !== "out" || !status) return null;
      var known = DELIVERY[status] || { mark: "", label: status };
      return el("div", { className: "delivery delivery-" + status,
                         title: m.delivery_error || known.label }, [
        el("span", { className: "delivery-mark", "aria-hidden": "true", text: known.mark }),
        el("span", { className: "delivery-label", text: known.label }),
        m.delivery_error ? el("span", { className: "delivery-error", text: m.delivery_error }) : null,
        m.sent_by ? el("span", { className: "delivery-route", text: m.sent_by.channel === "sms"
          ? t("delivery.sent_by_sms", { address: m.sent_by.address })
          : t("delivery.sent_by_email", { address: m.sent_by.address }) }) : null
      ]);
    }

    /* An e-mail's HTML (sanitized by the server) in a sandboxed frame: no scripts, an opaque
       origin, and a policy of its own that loads nothing (no remote images, no fonts). Links
       open in a new tab. The frame cannot be measured from here, so its height is an estimate
       from the text, and the agent may drag it taller. */
    function frameDocument(html) {
      return "<!doctype html><html><head><meta charset=\"utf-8\">"
        + "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        + "<base target=\"_blank\"><style>" + frameCss + "</style></head><body>" + html + "</body></html>";
    }
    function frameHeight(html) {
      // DOMParser builds an inert document: nothing in it loads or runs.
      var parsed = new DOMParser().parseFromString(html, "text/html");
      var text = (parsed.body && parsed.body.textContent) || "";
      var blocks = parsed.querySelectorAll("p, div, br, li, tr, h1, h2, h3, h4, blockquote, hr, pre").length;
      var lines = Math.ceil(text.trim().length / 70) + blocks;
      return Math.max(72, Math.min(460, 30 + lines * 26));
    }
    function htmlFrame(m, title) {
      var frame = el("iframe", {
        className: "email-frame", title: title, sandbox: "allow-popups allow-popups-to-escape-sandbox",
        referrerpolicy: "no-referrer"
      });
      frame.srcdoc = frameDocument(m.html);
      var holder = el("div", { className: "email-frame-wrap" }, [frame]);
      holder.style.height = frameHeight(m.html) + "px";
      return holder;
    }
    function htmlBodyNode(m) {
      var box = el("div", { className: "msg-html" });
      var holder = htmlFrame(m, t("mail.original_title", { name: authorLabel(m) }));
      var plain = el("div", { className: "msg-body msg-plain", text: m.body || "" });
      var toggle = el("button", { type: "button", className: "btn btn-sm btn-link msg-toggle" });
      function show(showPlain) {
        plain.hidden = !showPlain;
        holder.hidden = showPlain;
        toggle.textContent = showPlain ? t("mail.show_formatted") : t("mail.show_plain");
        toggle.setAttribute("aria-pressed", String(showPlain));
      }
      toggle.addEventListener("click", function () {
        state.plainText[m.id] = plain.hidden;
        show(plain.hidden);
      });
      show(Boolean(state.plainText[m.id]));
      box.appendChild(holder);
      box.appendChild(plain);
      box.appendChild(toggle);
      return box;
    }
    /* A button that shows and hides `target`, remembering the choice per message in `memory`
       (the thread is rebuilt on every update). */
    function disclosure(m, memory, target, showKey, hideKey, className) {
      var button = el("button", { type: "button", className: "btn btn-sm btn-link " + className,
                                  "aria-expanded": "false" });
      function show(open) {
        target.hidden = !open;
        button.textContent = MAIL_TEXTS[open ? hideKey : showKey];
        button.setAttribute("aria-expanded", String(open));
      }
      button.addEventListener("click", function () {
        memory[m.id] = target.hidden;
        show(target.hidden);
      });
      show(Boolean(memory[m.id]));
      return button;
    }
    function mailAddresses(label, className, addresses) {
      if (!addresses || !addresses.length) return [];
      return [el("dt", { text: label }), el("dd", { className: className, text: addresses.join(", ") })];
    }
    /* A resident's mail: its header facts, the new text in full, the quoted history folded
       away, and the original (the sanitized HTML) one click away. Everything the resident
       wrote is set as text; only the original is HTML, and that only inside the sandboxed
       frame (htmlFrame), never in this page. */
    function mailBodyNode(m) {
      var mail = m.email;
      var from = [mail.from_name, mail.from ? (mail.from_name ? "<" + mail.from + ">" : mail.from) : null]
        .filter(Boolean).join(" ");
      var head = el("dl", { className: "mail-head" }, [
        el("dt", { text: t("mail.subject") }),
        el("dd", { className: "mail-subject" + (mail.subject ? "" : " muted"), text: mail.subject || t("mail.no_subject") }),
        el("dt", { text: t("mail.from") }), el("dd", { className: "mail-from", text: from })
      ].concat(mailAddresses(t("mail.to"), "mail-to", mail.to), mailAddresses(t("mail.cc"), "mail-cc", mail.cc)));
      var box = el("div", { className: "msg-mail" }, [head]);
      if ((mail.notes || []).length) {
        box.appendChild(el("p", { className: "mail-notes", role: "note" },
                           [el("span", { "aria-hidden": "true", text: "⚠ " }),
                            t("mail.unreadable") + " " + mail.notes.join(" · ")]));
      }
      box.appendChild(el("div", { className: "msg-body", text: m.body || "" }));
      var tools = el("div", { className: "mail-tools" });
      var folded = [];
      if (mail.quoted) {
        var quoted = el("pre", { className: "mail-quoted", text: mail.quoted });
        tools.appendChild(disclosure(m, state.quotedOpen, quoted, "show_quoted", "hide_quoted", "mail-quoted-toggle"));
        folded.push(quoted);
      }
      if (m.html) {
        var original = el("div", { className: "mail-original" });
        var button = disclosure(m, state.originalOpen, original, "show_original", "hide_original", "mail-original-toggle");
        // The frame is built when first shown: a thread of long mails loads none it needs not.
        var build = function () {
          if (!original.hidden && !original.firstChild) {
            original.appendChild(htmlFrame(m, t("mail.original_title", { name: from || authorLabel(m) })));
          }
        };
        button.addEventListener("click", build);
        build();
        tools.appendChild(button);
        folded.push(original);
      }
      if (tools.firstChild) box.appendChild(tools);
      folded.forEach(function (node) { box.appendChild(node); });
      return box;
    }
    /* Our own mail with the subject the agent gave it. */
    function sentMailNode(m) {
      return el("div", { className: "msg-mail" }, [
        el("dl", { className: "mail-head" }, [el("dt", { text: t("mail.subject") }),
                                               el("dd", { className: "mail-subject", text: m.email.subject })]),
        el("div", { className: "msg-body", text: m.body || "" })]);
    }
    function isCallItem(m) {
      return state.detail && channelHas(state.detail.channel, "heard") && m.direction === "in" && callText && m.body === callText
        && !(m.attachments || []).length;
    }
    function messageNode(m) {
      var note = m.direction === "note";
      var call = isCallItem(m);
      var content;
      if (call) {
        content = el("div", { className: "msg-body msg-call" }, [icon(CHANNELS.voice.path), t("call.phone_call")]);
      } else if (m.erased) {
        // The resident's personal data was erased: say so, not an empty bubble.
        content = el("div", { className: "msg-body msg-erased", text: t("thread.erased_message") });
      } else if (m.email && m.direction === "in") {
        content = mailBodyNode(m);
      } else if (m.email && m.email.subject) {
        content = sentMailNode(m);
      } else if (m.html) {
        content = htmlBodyNode(m);
      } else {
        // Residents' text: textContent only, never markup.
        content = el("div", { className: "msg-body", text: m.body || "" });
      }
      return el("li", { className: "msg msg-" + m.direction + (m.whisper ? " msg-whisper" : "") + (call ? " msg-call-item" : ""), data: { messageId: m.id } }, [
        el("div", { className: "msg-meta" }, [
          note ? el("span", { className: "note-tag", text: m.whisper ? t("composer.whisper") : t("thread.internal_note") }) : null,
          el("span", { className: "msg-author", text: authorLabel(m) }),
          m.telegram ? el("span", { className: "msg-telegram", text: telegramHandle(m.telegram) }) : null,
          m.author && m.author.kind && m.direction !== "in"
            ? el("span", { className: "msg-kind", text: labelOf(AUTHOR_KINDS, m.author.kind) }) : null,
          el("time", { dateTime: m.created_at, text: clock(m.created_at), title: m.created_at })
        ]),
        content,
        (m.attachments || []).length
          ? el("div", { className: "attachments", "aria-label": m.email ? t("mail.attachments") : null },
               (m.email ? [el("span", { className: "attachments-label", text: t("mail.attachments") })] : [])
                 .concat(m.attachments.map(attachmentNode))) : null,
        deliveryNode(m)
      ]);
    }
    function callLength(seconds) {
      seconds = Math.max(0, Math.round(Number(seconds) || 0));
      var minutes = Math.floor(seconds / 60);
      if (minutes >= 60) return t("call.length_hours", { h: Math.floor(minutes / 60), m: minutes % 60 });
      return minutes ? t("call.length_minutes", { m: minutes, s: seconds % 60 }) : t("call.length_seconds", { s: seconds });
    }
    function someone(id) { return agentName(id) || t("event.an_agent"); }
    function unknownIfNull(value) { return value === null || value === undefined || value === "" ? "?" : value; }
    function voiceText(e) {
      var d = e.data || {};
      switch (e.type) {
        case "call_started": return t("call.started");
        case "ivr_choice":
          return t("call.chose", { choice: [d.language ? labelOf(LANGUAGE_NAMES, d.language) : t("call.no_language"),
                                            d.reason ? labelOf(CALL_REASONS, d.reason) : null].filter(Boolean).join(" · ") });
        case "ringing": return t("call.ringing", { agent: someone(d.agent_id) });
        case "connected": return t("call.connected", { agent: someone(d.agent_id) });
        case "missed":
          var why = d.reason ? labelOf(MISSED_REASONS, d.reason) : t("call.missed_not_answered");
          return (d.agent_id ? t("call.missed_agent", { reason: why, agent: agentName(d.agent_id) })
                             : t("call.missed", { reason: why }));
        case "call_ended":
          return d.status && d.status !== "completed"
            ? t("call.ended_status", { length: callLength(d.duration_s), status: labelOf(MISSED_REASONS, d.status) })
            : t("call.ended", { length: callLength(d.duration_s) });
        case "callback_requested":
          return d.queue ? t("call.callback_queue", { queue: queueName(d.queue) }) : t("call.callback");
        case "voicemail_transcribed":
          return d.transcribed === false ? t("call.voicemail_failed") : t("call.voicemail_transcribed");
      }
      return null;
    }
    /* An event of the thread as one sentence; "… by X" when someone did it. Reasons the inbox
       writes (data.reason) are its own words and are shown as they came. */
    function eventText(e) {
      var d = e.data || {};
      var who = e.actor ? agentName(e.actor) : null;
      function done(text) { return who ? t("event.by", { text: text, agent: who }) : text; }
      function because(text) { return d.reason ? t("event.reason", { text: text, reason: reasonText(d.reason) }) : text; }
      if (CALL_EVENTS[e.type]) return voiceText(e);
      // Event kinds a feature's own script words (console-outcome.js: outcomes, surveys).
      var extra = (window.CC.eventTexts || {})[e.type];
      if (extra) return done(extra(d));
      switch (e.type) {
        case "classified":
          return t("event.classified", { category: labelOf(CATEGORY_LABELS, d.category),
                                         confidence: Math.round((d.confidence || 0) * 100),
                                         language: d.language || "?", source: labelOf(SOURCES, d.source || "model") });
        case "routed":
          return d.why ? t("event.reason", { text: t("event.routed", { queue: queueName(d.queue) }), reason: whyText(d.why) })
            : because(t("event.routed", { queue: queueName(d.queue) }));
        case "assigned":
          return d.why ? t("event.reason", { text: t("event.assigned", { agent: unknownIfNull(agentName(d.agent_id)) }),
                                             reason: assignedWhyText(d.why) })
            : because(t("event.assigned", { agent: unknownIfNull(agentName(d.agent_id)) }));
        case "unassigned": return done(because(t("event.unassigned", { agent: unknownIfNull(agentName(d.agent_id)) })));
        case "reassigned": return t("event.reassigned", { from: unknownIfNull(agentName(d.from)), to: unknownIfNull(agentName(d.to)) });
        case "offer_expired": return because(t("event.offer_expired", { agent: unknownIfNull(agentName(d.agent_id)) }));
        case "transferred": return done(t("event.transferred", { from: queueName(d.from), to: queueName(d.to) }));
        case "resolved": return done(t("event.resolved"));
        case "reopened": return done(t("event.reopened"));
        case "status_changed":
          return done(t("event.status_changed", { from: d.from ? labelOf(STATUS_LABELS, d.from) : "?",
                                                  to: d.to ? labelOf(STATUS_LABELS, d.to) : "?" }));
        case "tagged":
          return done([(d.added || []).length ? t("event.tagged", { tags: (d.added || []).map(tagLabel).join(", ") }) : null,
                       (d.removed || []).length ? t("event.untagged", { tags: (d.removed || []).map(tagLabel).join(", ") }) : null]
                      .filter(Boolean).join("; "));
        case "reclassified":
          return done(t("event.reclassified", { from: d.from ? labelOf(CATEGORY_LABELS, d.from) : t("category.none"),
                                                to: labelOf(CATEGORY_LABELS, d.to) }));
        case "sla_at_risk":
          return d.clock === "resolution" ? t("event.sla_resolution_at_risk", { due: clock(d.due_at) })
            : t("event.sla_first_at_risk", { due: clock(d.due_at) });
        case "sla_breached":
          return d.clock === "resolution" ? t("event.sla_resolution_breached") : t("event.sla_first_breached");
        case "delivery_failed":
          return d.error ? t("event.delivery_failed_error", { error: d.error }) : t("event.delivery_failed");
        case "merged_into": return t("event.merged_into", { id: d.conversation });
        case "conversations_merged": return done(t("event.conversations_merged"));
        case "split": return done(t("event.split", { id: d.into }));
        case "split_from": return done(t("event.split_from", { id: d.conversation }));
        case "contacts_merged":
          return done(d.match && d.match.value ? t("event.contacts_merged_match", { from: d.from, into: d.into,
                                                                  kind: labelOf(MATCH_KINDS, d.match.kind), value: d.match.value })
                              : t("event.contacts_merged", { from: d.from, into: d.into }));
        // An erased resident's edit keeps no earlier text (inbox/erasure.py).
        case "message_edited":
          return d.previous === null ? t("event.message_edited_erased") : t("event.message_edited", { previous: d.previous || "" });
        case "contact_erased": return done(t("event.contact_erased_" + (d.reason || "resident_request")));
        case "intake_started": return t("event.intake_started");
        case "intake_reminded": return t("event.intake_reminded");
        case "intake_completed": return t("event.intake_completed");
        case "intake_handed_over": return because(t("event.intake_handed_over"));
        case "contact_renamed":
          if (d.to === null) return done(t("event.contact_renamed_erased"));
          return done(d.from ? t("event.contact_renamed_from", { from: d.from, to: d.to })
                             : t("event.contact_renamed", { to: d.to }));
        case "contact_updated":
          return done(d.field === "language"
            ? t("event.contact_language", { from: d.from ? labelOf(LANGUAGE_NAMES, d.from) : t("contact.unknown"),
                                             to: labelOf(LANGUAGE_NAMES, d.to) })
            : t("event.contact_preferred_channel", { to: d.to ? channelLabel(d.to) : t("contact.no_preference") }));
        // A type this script does not know yet: its name, as the server wrote it.
        default: return done(String(e.type).replace(/_/g, " "));
      }
    }
    /* The inbox writes why it routed or assigned as a phrase of its own: the fixed ones are
       translated here; a composed one (a routing rule's facts, an assignment strategy's note)
       is shown as the inbox wrote it, in English, marked so (eventNode). */
    var REASONS = {
      "answered it": t("reason.answered_it"), "assigned by a person": t("reason.assigned_by_person"),
      "took it from the queue": t("reason.took_from_queue"),
      "had room for the next in line": t("reason.had_room"),
      "nobody else can take it": t("reason.nobody_else"), "answered the call": t("reason.answered_call"),
      "agent replied": t("reason.agent_replied"), "the resident replied": t("reason.resident_replied"),
      "agent deactivated": t("reason.agent_deactivated"),
      "agent left the queue": t("reason.agent_left_queue"), "agent went away": t("reason.agent_away"),
      "agent went offline": t("reason.agent_offline"), "default queue": t("reason.default_queue"),
      "the resident wrote while the agent was away": t("reason.wrote_while_away"),
      "the resident wrote while the agent was offline": t("reason.wrote_while_offline"),
      "voicemail transcript": t("reason.voicemail_transcript")
    };
    function reasonText(reason) { return labelOf(REASONS, reason); }
    /* A routing decision's facts (routing/rules.py `why`) in the agent's language; events
       older than them keep the inbox's English phrase (untranslatedReason). */
    var CONDITIONS = {
      category: function (v) { return t("reason.if_category", { value: labelOf(CATEGORY_LABELS, v) }); },
      channel: function (v) { return t("reason.if_channel", { value: channelLabel(v) }); },
      language: function (v) { return t("reason.if_language", { value: labelOf(LANGUAGE_NAMES, v) }); },
      queue_hint: function (v) { return t("reason.if_queue_hint", { value: queueName(v) }); },
      keyword: function (v) { return t("reason.if_keyword", { value: v }); }
    };
    function whyText(why) {
      var low = why.low_confidence ? t("reason.low_confidence", {
        confidence: Math.round(why.low_confidence.confidence * 100), min: Math.round(why.low_confidence.min * 100) }) : null;
      var text = low || t("reason.default_queue");
      if (why.rule) {
        var parts = (why.conditions || []).map(function (c) {
          return CONDITIONS[c.name] ? CONDITIONS[c.name](c.value) : c.name + " " + c.value;
        });
        text = t("reason.rule", { number: why.rule, conditions: parts.length ? parts.join(", ") : t("reason.rule_any") });
        if (low) text = t("reason.overrides", { rule: text, low: low });
      }
      return why.after ? t("reason.after", { what: reasonText(why.after), why: text }) : text;
    }
    /* An assignment's facts (routing/assignment.py AssignDecision `why`), likewise. */
    var STRATEGIES = {
      round_robin: function (why) { return why.idle === "never" ? t("reason.assign_never") : t("reason.assign_longest"); },
      least_busy: function (why) { return t("reason.assign_load", { load: why.load, capacity: why.capacity }); }
    };
    function assignedWhyText(why) {
      var parts = [];
      if (why.offer_expired) {
        parts.push(t("reason.assign_after_offer", { agent: unknownIfNull(agentName(why.offer_expired.agent_id)),
                                                    seconds: why.offer_expired.timeout_s }));
      }
      if (why.preferred) parts.push(t("reason.assign_preferred"));
      else if (STRATEGIES[why.strategy]) parts.push(STRATEGIES[why.strategy](why));
      var language = why.language;
      if (language) {
        var wanted = labelOf(LANGUAGE_NAMES, language.wanted);
        parts.push(!language.fallback ? t("reason.assign_speaks", { language: wanted })
          : language.fallback === "any" ? t("reason.assign_fallback_any", { language: wanted })
          : t("reason.assign_fallback", { language: wanted, fallback: labelOf(LANGUAGE_NAMES, language.fallback) }));
      }
      return parts.join("; ");
    }
    function untranslatedReason(e) {
      if (e.data && e.data.why) return null;
      var reason = e.data && e.data.reason;
      return LANGUAGE !== "en" && typeof reason === "string" && !Object.prototype.hasOwnProperty.call(REASONS, reason)
        && !CALL_EVENTS[e.type] ? reason : null;
    }
    var SOURCES = { model: t("event.source_model"), hint: t("event.source_hint"), rule: t("event.source_rule"),
                    empty: t("event.source_empty") };
    /* The event's sentence; a reason in the inbox's own English words is set apart in a span
       that says its language. */
    function eventTextNode(e) {
      var text = eventText(e);
      var reason = untranslatedReason(e);
      var at = reason ? text.lastIndexOf(reason) : -1;
      if (at < 0) return el("span", { className: "event-text", text: text });
      return el("span", { className: "event-text" }, [text.slice(0, at),
        el("span", { className: "event-reason", lang: "en", text: reason }), text.slice(at + reason.length)]);
    }
    function eventNode(e) {
      var voice = Boolean(CALL_EVENTS[e.type]);
      return el("li", { className: "event event-" + e.type + (voice ? " event-voice" : ""),
                        data: { eventId: e.id, type: e.type } }, [
        voice ? icon(CHANNELS.voice.path) : null,
        eventTextNode(e),
        el("time", { dateTime: e.created_at, text: clock(e.created_at), title: e.created_at })
      ]);
    }
    function renderThread(scrollToEnd) {
      var atEnd = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
      var entries = [];
      state.detail.messages.forEach(function (m) { entries.push({ at: m.created_at, node: messageNode(m) }); });
      state.detail.events.forEach(function (e) {
        if (!MESSAGE_EVENTS[e.type]) entries.push({ at: e.created_at, node: eventNode(e) });
      });
      entries.sort(function (a, b) { return new Date(a.at) - new Date(b.at); });
      thread.textContent = "";
      entries.forEach(function (entry) { thread.appendChild(entry.node); });
      if (scrollToEnd || atEnd) thread.scrollTop = thread.scrollHeight;
    }
    function renderDetail(scrollToEnd) {
      document.getElementById("empty-state").hidden = true;
      document.getElementById("conversation").hidden = false;
      renderHeader(state.detail);
      if (window.CC.renderIntake) window.CC.renderIntake(state.detail);   // static/console-intake.js
      renderComposerMail();
      composerFor(state.contact);
      renderThread(scrollToEnd);
    }
    // Nobody to write to once the resident's data is erased, and a note would keep about them
    // what was erased: the composer gives way to a notice (the API refuses both, 409).
    function composerFor(contact) {
      var erased = !!(contact && contact.erased_at && state.detail && state.detail.contact.id === contact.id);
      document.getElementById("composer").hidden = erased;
      document.getElementById("composer-erased").hidden = !erased;
    }
    // Delivery changes heard live, by message: a snapshot fetched before one arrived (or a send's
    // own answer, which the worker may overtake) would otherwise show the older state for good.
    var liveDeliveries = {};
    function applyLiveDelivery(m, since) {
      var heard = liveDeliveries[m.id];
      if (!heard || heard.at < since) return;
      m.delivery_status = heard.status;
      m.delivery_error = heard.error;
    }
    function appendMessage(m) {
      if (!state.detail || state.detail.id !== m.conversation_id) return;
      if (state.detail.messages.some(function (x) { return x.id === m.id; })) return;
      applyLiveDelivery(m, 0);
      state.detail.messages.push(m);
      renderThread(true);
    }
    function updateDelivery(data) {
      var now = Date.now();
      Object.keys(liveDeliveries).forEach(function (id) {
        if (now - liveDeliveries[id].at > 120000) delete liveDeliveries[id];
      });
      liveDeliveries[data.message_id] = {
        status: DELIVERY_ALIASES[data.delivery_status] || data.delivery_status,
        error: data.delivery_error, at: now };
      if (!state.detail || state.detail.id !== data.conversation_id) return;
      state.detail.messages.forEach(function (m) {
        if (m.id === data.message_id) {
          m.delivery_status = DELIVERY_ALIASES[data.delivery_status] || data.delivery_status;
          m.delivery_error = data.delivery_error;
        }
      });
      if (data.delivery_status === "failed") refreshSoon();   // and its delivery_failed event
      var item = thread.querySelector('[data-message-id="' + data.message_id + '"]');
      if (!item) return;
      var old = item.querySelector(".delivery");
      var message = state.detail.messages.filter(function (m) { return m.id === data.message_id; })[0];
      var fresh = message ? deliveryNode(message) : null;
      if (old && fresh) old.replaceWith(fresh);
      else if (fresh) item.appendChild(fresh);
    }

    // -- contact panel
    function loadContact(contactId, fresh) {
      var pane = document.getElementById("contact-pane");
      if (fresh) {
        pane.textContent = "";
        pane.appendChild(el("p", { className: "muted pad", text: t("contact.loading") }));
      }
      return api("GET", "/api/v1/contacts/" + contactId).then(function (result) {
        if (!state.detail || state.detail.contact.id !== contactId) return;
        state.contact = result.data;
        // A live update must not throw away a name the agent is typing.
        if (!fresh && pane.querySelector(".name-form")) return;
        renderContact(pane, result.data);
      }, function (error) {
        pane.textContent = "";
        pane.appendChild(el("p", { className: "muted pad", text: t("contact.unavailable", { reason: errorText(error) }) }));
      });
    }
    function renderContact(pane, contact) {
      composerFor(contact);
      if (contact.erased_at) return renderErasedContact(pane, contact);
      var name = contactName(contact);
      var initials = (contact.name || "?").split(/\s+/).map(function (part) { return part.charAt(0); }).join("").slice(0, 2).toUpperCase();
      var details = [[t("contact.phone"), contact.phone], [t("contact.email"), contact.email]]
        .filter(function (pair) { return pair[1]; });
      pane.textContent = "";
      var heading = el("div", { className: "contact-heading" }, [
        el("h3", { id: "contact-name", text: name }),
        el("button", { type: "button", className: "btn btn-sm", id: "contact-name-edit",
                       title: t("contact.edit_name_title"), text: contact.name ? t("contact.edit_name") : t("contact.add_name"),
                       on: { click: function () { editName(heading, contact); } } })]);
      pane.appendChild(el("div", { className: "contact-card" }, [
        el("div", { className: "avatar", "aria-hidden": "true", text: initials }),
        el("div", { className: "contact-title" }, [heading, el("p", { className: "muted small", text: t("contact.numbered", { id: contact.id }) })])
      ]));
      renderMatches(pane, contact);
      if (details.length) {
        pane.appendChild(el("dl", { className: "contact-details" }, [].concat.apply([], details.map(function (pair) {
          return [el("dt", { text: pair[0] }), el("dd", { text: pair[1] })];
        }))));
      }
      pane.appendChild(contactPreferences(contact));
      pane.appendChild(el("h4", { className: "pane-title", text: t("contact.identities") }));
      pane.appendChild(el("ul", { className: "identities" }, (contact.identities || []).map(function (identity) {
        var address = channelHas(identity.channel, "phone_address")
          ? maskPhone(identity.address) : identity.channel === "webchat" ? t("contact.chat_session") : identity.address;
        return el("li", {}, [channelIcon(identity.channel),
          el("span", { className: "identity-text" }, [
            el("span", { text: identity.display_name || channelLabel(identity.channel) }),
            el("span", { className: "muted small", text: address || "" })])]);
      })));
      appendHistory(pane, contact);
      // The whole history across channels opens in console-timeline.js.
      pane.appendChild(el("button", { type: "button", className: "btn btn-sm timeline-open-all", id: "contact-timeline-open",
                                      data: { contactId: contact.id, contactName: name }, text: t("timeline.open") }));
      // Only an admin erases, at the resident's request or by an order, once all is resolved.
      // A copy of what the centre holds, for a resident who asks to see it: a JSON file, or
      // a page in their language to print or save as PDF for them.
      if (me.role === "admin") {
        pane.appendChild(el("a", { className: "btn btn-sm contact-export", id: "contact-export",
                                   href: "/api/v1/contacts/" + contact.id + "/export", download: "contact-" + contact.id + ".json",
                                   text: t("export.open") }));
        pane.appendChild(el("a", { className: "btn btn-sm contact-export", id: "contact-export-printable",
                                   href: "/api/v1/contacts/" + contact.id + "/export?format=html", target: "_blank",
                                   rel: "noopener", text: t("export.printable") }));
        pane.appendChild(el("button", { type: "button", className: "btn btn-sm contact-erase", id: "contact-erase",
                                        text: t("erase.open"), on: { click: function () { openErase(contact); } } }));
      }
    }
    function appendHistory(pane, contact) {
      var others = contact.conversations || [];
      pane.appendChild(el("h4", { className: "pane-title", text: t("contact.conversations", { count: others.length }) }));
      pane.appendChild(el("ul", { className: "history" }, others.map(function (c) {
        return el("li", {}, [el("button", {
          type: "button", className: "history-item" + (c.id === state.selected ? " current" : ""),
          data: { id: c.id }, on: { click: function () { openConversation(c.id); } }
        }, [channelIcon(c.channel),
            el("span", { className: "history-text" }, [
              el("span", { text: "#" + c.id + " · " + (c.category ? labelOf(CATEGORY_LABELS, c.category) : t("category.none")) }),
              el("span", { className: "muted small", text: clock(c.created_at) + " · " + queueName(c.queue) })]),
            el("span", { className: "status-tag status-" + c.status, text: labelOf(STATUS_LABELS, c.status) })])]);
      })));
    }
    /* A resident whose personal data was erased: nothing of theirs is left to show or set,
       only that it was done, and the conversations the reports still count. */
    function renderErasedContact(pane, contact) {
      pane.textContent = "";
      pane.appendChild(el("div", { className: "contact-card" }, [
        el("div", { className: "avatar", "aria-hidden": "true", text: "–" }),
        el("div", { className: "contact-title" }, [
          el("h3", { id: "contact-name", text: t("contact.erased_name") }),
          el("p", { className: "muted small", text: t("contact.numbered", { id: contact.id }) })])]));
      pane.appendChild(el("p", { className: "notice notice-sm notice-danger contact-erased", id: "contact-erased", role: "status",
                                 text: t("contact.erased_on", { date: clock(contact.erased_at) }) }));
      appendHistory(pane, contact);
    }
    var eraseDialog = document.getElementById("erase-dialog");
    var eraseError = document.getElementById("erase-error");
    var erasing = null;
    function openErase(contact) {
      erasing = contact;
      eraseError.hidden = true;
      document.getElementById("erase-reason").value = "resident_request";
      document.getElementById("erase-reference").value = "";
      eraseDialog.showModal();
    }
    document.getElementById("erase-cancel").addEventListener("click", function () { eraseDialog.close(); });
    document.getElementById("erase-form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!erasing) return;
      var body = { reason: document.getElementById("erase-reason").value };
      var reference = document.getElementById("erase-reference").value.trim();
      if (reference) body.reference = reference;
      api("POST", "/api/v1/contacts/" + erasing.id + "/erase", body).then(function (result) {
        eraseDialog.close();
        state.contact = result.data;
        renderContact(document.getElementById("contact-pane"), result.data);
        toast(t("erase.done"));
        refreshDetail(false);
      }, function (err) {
        eraseError.textContent = errorText(err);
        eraseError.hidden = false;
      });
    });

    /* The resident's language (replies and notices are written in it) and preferred channel
       (one they have written on): each change saved at once, an event on their conversations. */
    function contactPreferences(contact) {
      function save(field, value) {
        var body = {};
        body[field] = value;
        api("PATCH", "/api/v1/contacts/" + contact.id, body).then(function (result) {
          state.contact = result.data;
          renderContact(document.getElementById("contact-pane"), result.data);
          toast(t("contact.saved"));
          refreshDetail(false);
        }, fail);
      }
      var language = el("select", { className: "input input-sm", id: "contact-language" },
        ["az", "ru", "en"].map(function (code) {
          return el("option", { value: code, text: labelOf(LANGUAGE_NAMES, code), selected: contact.language === code });
        }));
      // Not set by anyone yet: what the open conversation was detected in, which replies and
      // notices use meanwhile, so "unknown" does not read as missing.
      var detected = state.detail && state.detail.language;
      if (!contact.language) {
        language.insertBefore(el("option", { value: "", selected: true,
          text: detected ? t("contact.language_detected", { language: labelOf(LANGUAGE_NAMES, detected) }) : t("contact.unknown") }),
        language.firstChild);
      }
      language.addEventListener("change", function () { if (language.value) save("language", language.value); });
      var channels = [];
      (contact.identities || []).forEach(function (identity) {
        if (channels.indexOf(identity.channel) < 0) channels.push(identity.channel);
      });
      var preferred = el("select", { className: "input input-sm", id: "contact-preferred-channel" },
        [el("option", { value: "", text: t("contact.no_preference"), selected: !contact.preferred_channel })].concat(
          channels.map(function (channel) {
            return el("option", { value: channel, text: channelLabel(channel), selected: contact.preferred_channel === channel });
          })));
      preferred.addEventListener("change", function () { save("preferred_channel", preferred.value || null); });
      return el("dl", { className: "contact-details contact-preferences" }, [
        el("dt", {}, [el("label", { "for": "contact-language", text: t("contact.language") })]), el("dd", {}, [language]),
        el("dt", {}, [el("label", { "for": "contact-preferred-channel", text: t("contact.preferred_channel") })]), el("dd", {}, [preferred])]);
    }

    function editName(heading, contact) {
      var input = el("input", { className: "input input-sm", id: "contact-name-input", maxLength: 200,
                                required: true, value: contact.name || "", "aria-label": t("contact.name") });
      var form = el("form", { className: "name-form" }, [input,
        el("button", { type: "submit", className: "btn btn-sm btn-primary", id: "contact-name-save", text: t("dialog.save") }),
        el("button", { type: "button", className: "btn btn-sm", text: t("dialog.cancel"),
                       on: { click: function () { renderContact(document.getElementById("contact-pane"), contact); } } })]);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var value = input.value.trim();
        if (!value) return;
        api("PATCH", "/api/v1/contacts/" + contact.id, { name: value }).then(function (result) {
          state.contact = result.data;
          renderContact(document.getElementById("contact-pane"), result.data);
          toast(t("contact.name_saved"));
          refreshDetail(false);
        }, fail);
      });
      heading.replaceWith(form);
      input.focus();
      input.select();
    }
    function renderMatches(pane, contact) {
      var matches = contact.possible_matches || [];
      if (!matches.length) return;
      pane.appendChild(el("h4", { className: "pane-title", text: t("match.title", { count: matches.length }) }));
      pane.appendChild(el("p", { className: "muted small pad-x", text: t("match.caution") }));
      pane.appendChild(el("ul", { className: "matches" }, matches.map(function (match) {
        var other = match.contact;
        var who = other.visible ? (other.name || t("contact.numbered", { id: other.id }))
          : t("match.hidden_contact", { id: other.id });
        return el("li", { className: "match", data: { matchId: match.id } }, [
          el("span", { className: "match-text" }, [
            el("span", { text: t("match.same", { kind: labelOf(MATCH_KINDS, match.kind), value: match.value }) }),
            el("span", { className: "muted small", text: who + " · " + clock(match.found_at) })]),
          el("span", { className: "match-actions" }, [
            el("button", { type: "button", className: "btn btn-sm btn-primary match-confirm", text: t("match.confirm"),
                           disabled: !other.visible,
                           title: other.visible ? t("match.confirm_title") : t("match.confirm_hidden"),
                           on: { click: function () { decideMatch(contact.id, match.id, "confirm"); } } }),
            el("button", { type: "button", className: "btn btn-sm match-dismiss", text: t("match.dismiss"),
                           on: { click: function () { decideMatch(contact.id, match.id, "dismiss"); } } })])]);
      })));
    }
    function decideMatch(contactId, matchId, decision) {
      api("POST", "/api/v1/contacts/" + contactId + "/matches/" + matchId + "/" + decision).then(function (result) {
        state.contact = result.data;
        renderContact(document.getElementById("contact-pane"), result.data);
        toast(decision === "confirm" ? t("match.merged") : t("match.dismissed"));
        refreshDetail(false);
      }, fail);
    }

    // -- actions
    function afterAction(result) {
      if (result && result.data && result.data.id) upsert(result.data, false);
      return refreshDetail(false);
    }
    // What feature scripts may use of the open conversation's page.
    window.CC.conversation = { state: state, setMode: setMode, agentName: agentName,
                               afterAction: afterAction, renderList: function () { renderList(); } };
    function setStatus(status) {
      if (!state.selected) return;
      api("POST", "/api/v1/conversations/" + state.selected + "/status", { status: status })
        .then(function (result) {
          toast(status === "resolved" ? t("toast.resolved") : status === "open" ? t("toast.reopened") : t("toast.pending"));
          return afterAction(result);
        }).catch(fail);
    }
    document.getElementById("act-resolve").addEventListener("click", function () { setStatus("resolved"); });
    document.getElementById("act-pending").addEventListener("click", function () { setStatus("pending"); });
    document.getElementById("act-reopen").addEventListener("click", function () { setStatus("open"); });
    document.getElementById("act-assign-me").addEventListener("click", function () {
      api("POST", "/api/v1/conversations/" + state.selected + "/assign", { agent_id: me.id })
        .then(afterAction).catch(fail);
    });
    document.getElementById("category-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var reroute = document.getElementById("category-reroute").checked;
      api("POST", "/api/v1/conversations/" + state.selected + "/category", {
        category: document.getElementById("category-select").value, reroute: reroute
      }).then(function (result) {
        toast(reroute ? t("toast.category_rerouted") : t("toast.category_corrected"));
        document.getElementById("category-reroute").checked = false;
        return afterAction(result);
      }).catch(fail);
    });

    /* Tags and wrap-up codes (config `tags`): chips with a remove button, and a list of the
       others to add. A queue that wants a wrap-up code says so until one is on. */
    function tagOf(id) {
      var list = state.tags ? state.tags.tags : [];
      for (var i = 0; i < list.length; i++) if (list[i].id === id) return list[i];
      return null;
    }
    function tagLabel(id) {
      var tag = tagOf(id);
      return tag ? (tag.label[LANGUAGE] || tag.label.az || id) : id;
    }
    function renderTags(c) {
      var list = document.getElementById("conv-tags");
      var select = document.getElementById("tag-select");
      list.textContent = "";
      select.textContent = "";
      if (!state.tags) return;
      var current = c.tags || [];
      current.forEach(function (id) {
        var tag = tagOf(id);
        var remove = el("button", { type: "button", text: "×",
                                    title: t("tags.remove", { tag: tagLabel(id) }) });
        remove.setAttribute("aria-label", t("tags.remove", { tag: tagLabel(id) }));
        remove.addEventListener("click", function () {
          saveTags(current.filter(function (other) { return other !== id; }));
        });
        list.appendChild(el("li", { className: "tag" + (tag && tag.wrap_up ? " tag-wrap-up" : ""),
                                    "data-tag": id }, [el("span", { text: tagLabel(id) }), remove]));
      });
      var groups = [[false, t("tags.topics")], [true, t("tags.wrap_up_codes")]];
      groups.forEach(function (group) {
        var options = state.tags.tags.filter(function (tag) {
          return !!tag.wrap_up === group[0] && current.indexOf(tag.id) < 0;
        });
        if (!options.length) return;
        var optgroup = el("optgroup", { label: group[1] });
        options.forEach(function (tag) {
          optgroup.appendChild(el("option", { value: tag.id, text: tagLabel(tag.id) }));
        });
        select.appendChild(optgroup);
      });
      document.getElementById("tag-form").hidden = !select.options.length;
      var wanted = state.tags.wrap_up_required.indexOf(c.queue) >= 0 && c.status !== "resolved";
      var hasCode = current.some(function (id) { var tag = tagOf(id); return tag && tag.wrap_up; });
      document.getElementById("tag-wrap-up-hint").hidden = !wanted || hasCode;
    }
    function saveTags(tags) {
      if (!state.selected) return;
      api("PUT", "/api/v1/conversations/" + state.selected + "/tags", { tags: tags })
        .then(afterAction).catch(fail);
    }
    function loadTags() {
      return api("GET", "/api/v1/tags").then(function (result) {
        state.tags = result.data;
        if (state.detail) renderTags(state.detail);
      }).catch(fail);
    }
    document.getElementById("tag-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var chosen = document.getElementById("tag-select").value;
      if (!chosen || !state.detail) return;
      saveTags((state.detail.tags || []).concat([chosen]));
    });

    /* Transfer: any queue of the deployment, and optionally one of its agents, each with their
       presence and load against capacity (GET …/transfer-targets); choosing someone who is not
       online or is full says so before the transfer. */
    var transferDialog = document.getElementById("transfer-dialog");
    var transferQueue = document.getElementById("transfer-queue");
    var transferAgents = document.getElementById("transfer-agents");
    var transferWarning = document.getElementById("transfer-warning");
    var transferError = document.getElementById("transfer-error");
    var KIND_WORDS = { chat: t("capacity.chats"), email: t("capacity.emails") };
    var targets = { queues: [], agents: [], capacity_kind: "chat" };
    function agentsOf(queue) {
      return targets.agents
        .filter(function (agent) { return (agent.queues || []).indexOf(queue) >= 0; })
        .sort(function (a, b) {
          return (PRESENCE_ORDER[a.presence] === undefined ? 3 : PRESENCE_ORDER[a.presence])
            - (PRESENCE_ORDER[b.presence] === undefined ? 3 : PRESENCE_ORDER[b.presence])
            || String(a.name).localeCompare(String(b.name));
        });
    }
    function loadText(agent) {
      return agent.load + "/" + agent.capacity;
    }
    function agentOption(agent, checked) {
      var value = agent ? String(agent.id) : "";
      var presenceState = agent ? (agent.presence || "offline") : null;
      var current = agent && state.detail && agent.id === state.detail.assignee;
      var kind = labelOf(KIND_WORDS, targets.capacity_kind);
      return el("li", {}, [el("label", { className: "agent-option" + (agent ? "" : " agent-anyone")
                                           + (agent && agent.full ? " agent-full" : "") }, [
        el("input", { type: "radio", name: "transfer-agent", value: value, checked: checked,
                      data: { agentId: value } }),
        el("span", { className: "agent-option-name", title: agent ? agent.name : null }, [
          agent ? (agent.id === me.id ? t("transfer.agent_you", { name: agent.name || t("agent.numbered", { id: agent.id }) })
                                      : agent.name || t("agent.numbered", { id: agent.id }))
                : t("transfer.anyone"),
          current ? el("span", { className: "muted small", text: " · " + t("transfer.assigned_now") }) : null
        ]),
        agent ? el("span", { className: "presence-dot presence-" + presenceState, text: labelOf(PRESENCE_LABELS, presenceState) }) : null,
        agent ? el("span", { className: "chip agent-load" + (agent.full ? " chip-full" : ""),
                             text: agent.full ? t("transfer.full_load", { load: loadText(agent) }) : loadText(agent),
                             title: t("transfer.load_title", { load: agent.load, capacity: agent.capacity, kind: kind }) }) : null,
        agent && agent.languages && agent.languages.length
          ? el("span", { className: "chip", text: agent.languages.join(" ").toUpperCase(), title: t("transfer.languages") }) : null
      ])]);
    }
    function chosenAgent() {
      var picked = transferAgents.querySelector("input:checked");
      var id = picked && picked.value ? Number(picked.value) : null;
      return targets.agents.filter(function (agent) { return agent.id === id; })[0] || null;
    }
    /* Why the chosen agent may not take the conversation up soon, or null. */
    function transferRisk(agent) {
      if (!agent) return null;
      var you = agent.id === me.id;
      var values = { name: agent.name || t("agent.numbered", { id: agent.id }),
                     presence: labelOf(PRESENCE_STATES, agent.presence || "offline"),
                     load: agent.load, capacity: agent.capacity, kind: labelOf(KIND_WORDS, targets.capacity_kind) };
      var reasons = [];
      if (agent.presence !== "online") {
        reasons.push(you ? t("transfer.risk_absent_you", values) : t("transfer.risk_absent", values));
      }
      if (agent.full) {
        reasons.push(you ? t("transfer.risk_full_you", values) : t("transfer.risk_full", values));
      }
      return reasons.length ? reasons.join(" ") : null;
    }
    function showTransferRisk() {
      var risk = transferRisk(chosenAgent());
      transferWarning.textContent = risk || "";
      transferWarning.hidden = !risk;
    }
    function renderTransferAgents(keep) {
      var queue = transferQueue.value;
      var chosen = keep ? (transferAgents.querySelector("input:checked") || {}).value : "";
      var agents = agentsOf(queue);
      transferAgents.textContent = "";
      transferAgents.appendChild(agentOption(null, !chosen));
      agents.forEach(function (agent) {
        transferAgents.appendChild(agentOption(agent, chosen === String(agent.id)));
      });
      if (!agents.length) {
        transferAgents.appendChild(el("li", { className: "muted small pad-sm", text: t("transfer.nobody", { queue: queueName(queue) }) }));
      }
      if (!transferAgents.querySelector("input:checked")) transferAgents.querySelector("input").checked = true;
      showTransferRisk();
    }
    function renderTransferQueues(current) {
      transferQueue.textContent = "";
      targets.queues.forEach(function (queue) {
        if (!state.queues[queue.id]) state.queues[queue.id] = queue;   // names queues not worked
        var name = queueLabel(queue);
        transferQueue.appendChild(el("option", { value: queue.id, title: name,
                                                 text: queue.id === current ? t("transfer.queue_now", { queue: name }) : name }));
      });
      transferQueue.value = current;
      transferQueue.title = queueName(transferQueue.value);
    }
    function loadTransferTargets(keep) {
      return api("GET", "/api/v1/conversations/" + state.selected + "/transfer-targets").then(function (result) {
        targets = result.data;
        if (!transferDialog.open) return;
        if (!keep) renderTransferQueues(state.detail.queue);
        renderTransferAgents(keep);
      });
    }
    /* Sent to a queue this user does not work: it leaves their list and their screen. */
    function leaveConversation(id) {
      delete state.byId[id];
      state.items = state.items.filter(function (x) { return x.id !== id; });
      if (state.selected === id) {
        state.selected = null;
        state.detail = null;
        document.getElementById("conversation").hidden = true;
        document.getElementById("empty-state").hidden = false;
      }
      renderList();
    }
    // A new choice is a new question: the last answer's error no longer applies.
    function choiceChanged() { transferError.hidden = true; }
    transferQueue.addEventListener("change", function () {
      choiceChanged();
      transferQueue.title = queueName(transferQueue.value);
      renderTransferAgents(false);
    });
    transferAgents.addEventListener("change", function () {
      choiceChanged();
      showTransferRisk();
    });
    document.getElementById("act-transfer").addEventListener("click", function () {
      transferError.hidden = true;
      transferWarning.hidden = true;
      targets = { queues: [], agents: [], capacity_kind: "chat" };
      transferQueue.textContent = "";
      transferAgents.textContent = "";
      transferAgents.appendChild(el("li", { className: "muted small pad-sm", text: t("common.loading") }));
      transferDialog.showModal();
      loadTransferTargets(false).catch(function (err) {
        transferError.textContent = errorText(err);
        transferError.hidden = false;
      });
    });
    document.getElementById("transfer-cancel").addEventListener("click", function () { transferDialog.close(); });
    document.getElementById("transfer-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var queue = transferQueue.value;
      var picked = transferAgents.querySelector("input:checked");
      var agentId = picked && picked.value ? Number(picked.value) : null;
      var payload = { agent_id: agentId };
      if (queue && queue !== state.detail.queue) payload.queue = queue;
      if (!payload.queue && agentId === null) {
        transferError.textContent = t("transfer.choose");
        transferError.hidden = false;
        return;
      }
      api("POST", "/api/v1/conversations/" + state.selected + "/assign", payload).then(function (result) {
        transferDialog.close();
        toast(t("toast.transferred", { to: agentId ? agentName(agentId) : queueName(queue) }));
        if (!state.worked[result.data.queue]) return leaveConversation(result.data.id);
        return afterAction(result);
      }, function (err) {
        transferError.textContent = errorText(err);
        transferError.hidden = false;
      });
    });

    // -- composer
    // reply: to the resident; note: for agents; whisper: a supervisor's note, shown apart.
    var MODE_TEXTS = {
      reply: { placeholder: t("composer.reply_placeholder"), send: t("composer.send_reply") },
      note: { placeholder: t("composer.note_placeholder"), send: t("composer.add_note"), hint: t("composer.note_hint") },
      whisper: { placeholder: t("composer.whisper_placeholder"), send: t("composer.add_whisper"), hint: t("composer.whisper_hint") }
    };
    function setMode(mode) {
      state.mode = mode;
      composer.dataset.mode = mode;
      composer.querySelectorAll(".composer-tabs button").forEach(function (b) {
        b.setAttribute("aria-selected", String(b.dataset.mode === mode));
      });
      composerText.placeholder = MODE_TEXTS[mode].placeholder;
      document.getElementById("composer-send").textContent = MODE_TEXTS[mode].send;
      if (state.detail) renderHeader(state.detail);
      renderComposerMail();
    }
    composer.querySelector(".composer-tabs").addEventListener("click", function (event) {
      var tab = event.target.closest("button[data-mode]");
      if (tab) { setMode(tab.dataset.mode); composerText.focus(); }
    });
    /* On a mail channel the reply has a subject, prefilled with the server's (the same rule as
       the mail that goes out: "Re: " and the [DOST-id] token), and the mailbox's signature,
       shown as the server will add it. A subject the agent left as proposed follows a newer
       mail's; one they changed is kept. */
    var composerMail = document.getElementById("composer-mail");
    var composerSubject = document.getElementById("composer-subject");
    var composerSignature = document.getElementById("composer-signature");
    composerSubject.addEventListener("keydown", function (event) {
      // Enter in the subject would submit the form: it moves on to the text instead.
      if (event.key === "Enter") {
        event.preventDefault();
        composerText.focus();
      }
    });
    function renderComposerMail() {
      var c = state.detail;
      var draft = c && channelHas(c.channel, "subject") && state.mode === "reply" ? c.mail_reply : null;
      composerMail.hidden = !draft;
      composerSignature.hidden = !draft;
      if (!draft) return;
      if (state.subjectFor !== c.id || composerSubject.value === state.subjectDefault) {
        composerSubject.value = draft.subject;
      }
      state.subjectFor = c.id;
      state.subjectDefault = draft.subject;
      composerSignature.textContent = "";
      if (draft.signature) {
        composerSignature.appendChild(el("span", { className: "label", text: t("mail.signature") }));
        composerSignature.appendChild(el("div", { className: "signature-text", text: draft.signature }));
      } else {
        composerSignature.appendChild(el("span", { className: "muted", text: t("mail.no_signature") }));
      }
    }
    var sending = false;
    function send() {
      var text = composerText.value.trim();
      // The files uploaded for it (static/console-attach.js): a reply may be files alone.
      var files = window.CC.attachments ? window.CC.attachments.ready() : [];
      if ((!text && !files.length) || !state.selected || sending) return;
      if (window.CC.attachments && window.CC.attachments.busy()) { showComposerNotice(t("attach.wait")); return; }
      sending = true;
      var id = state.selected;
      var payload = { body: text, private: state.mode === "note" };
      if (files.length) payload.attachments = files;
      var subject = composerMail.hidden ? "" : composerSubject.value.trim();
      if (subject && subject !== state.subjectDefault) payload.subject = subject;
      var whisper = state.mode === "whisper";
      api("POST", "/api/v1/conversations/" + id + (whisper ? "/whisper" : "/messages"), whisper ? { body: text } : payload)
        .then(function (result) {
          if (state.selected === id) composerText.value = "";
          if (files.length && window.CC.attachments) window.CC.attachments.clear();
          hideComposerNotice();
          appendMessage(result.data);
          refreshSoon();
        }, function (err) {
          if (err.status === 409 && state.selected === id) {
            // The channel's free-text window has closed (WhatsApp: 24 hours): the server says
            // why; only an approved template may go out now. The draft stays.
            showComposerNotice(errorText(err));
            if (state.detail && channelHas(state.detail.channel, "templates")) openTemplates(errorText(err));
            return;
          }
          fail(err);
        }).then(function () { sending = false; });
    }
    composer.addEventListener("submit", function (event) { event.preventDefault(); send(); });
    composerText.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        send();
      } else if (event.key === "/" && !composerText.value) {
        event.preventDefault();
        openCanned();
      } else if (event.key === "Escape") {
        composerText.blur();
      }
    });

    function showComposerNotice(text) {
      composerNotice.textContent = text;
      composerNotice.hidden = false;
    }
    function hideComposerNotice() {
      composerNotice.hidden = true;
      composerNotice.textContent = "";
    }

    // -- WhatsApp templates: the approved messages that may go out of the 24-hour window
    var templateDialog = document.getElementById("template-dialog");
    var templateName = document.getElementById("template-name");
    var templateVars = document.getElementById("template-vars");
    var templatePreview = document.getElementById("template-preview");
    var templateError = document.getElementById("template-error");
    var templateReason = document.getElementById("template-reason");
    var templateSend = document.getElementById("template-send");
    var VARIABLE_LABELS = { name: t("template.var_name"), conversation: t("template.var_conversation"),
                            agent: t("template.var_agent") };
    function templatesFor(channel) {
      return (state.templates || []).filter(function (t) { return t.channel === channel; });
    }
    function chosenTemplate() {
      var channel = state.detail && state.detail.channel;
      return templatesFor(channel).filter(function (t) { return t.name === templateName.value; })[0] || null;
    }
    function templateDefault(variable) {
      var c = state.detail || {};
      if (variable === "name") return (c.contact && c.contact.name) || "";
      if (variable === "conversation") return c.id ? String(c.id) : "";
      if (variable === "agent") return me.name || "";
      return "";
    }
    function templateValues() {
      var values = {};
      templateVars.querySelectorAll("input[data-variable]").forEach(function (input) {
        values[input.dataset.variable] = input.value.trim();
      });
      return values;
    }
    function renderTemplatePreview() {
      var template = chosenTemplate();
      templatePreview.textContent = "";
      if (!template) return;
      var values = templateValues();
      var variables = template.variables || [];
      var preview = template.preview || ("[" + template.name + "] " + variables.map(function (v) {
        return "{{" + (variables.indexOf(v) + 1) + "}}";
      }).join(" · "));
      // Text only: the preview is split around {{n}} and each value is a text node of its own.
      preview.split(/(\{\{\d+\}\})/).forEach(function (part) {
        var number = /^\{\{(\d+)\}\}$/.exec(part);
        if (!number) { if (part) templatePreview.appendChild(document.createTextNode(part)); return; }
        var variable = variables[Number(number[1]) - 1];
        var value = variable ? values[variable] : "";
        templatePreview.appendChild(el("mark", { className: value ? "tpl-value" : "tpl-missing",
                                                 text: value || "{" + (variable || number[1]) + "}" }));
      });
    }
    function renderTemplateVars() {
      var template = chosenTemplate();
      templateVars.textContent = "";
      (template ? template.variables || [] : []).forEach(function (variable) {
        templateVars.appendChild(el("label", {}, [
          labelOf(VARIABLE_LABELS, variable),
          el("input", { className: "input", value: templateDefault(variable), required: true,
                        data: { variable: variable }, "aria-label": variable })
        ]));
      });
      renderTemplatePreview();
    }
    function openTemplates(reason) {
      if (!state.selected || !state.detail || !channelHas(state.detail.channel, "templates")) return Promise.resolve();
      var ready = state.templates ? Promise.resolve() : api("GET", "/api/v1/templates").then(function (result) {
        state.templates = result.data.items || result.data;
      });
      return ready.then(function () {
        var templates = templatesFor(state.detail.channel);
        templateName.textContent = "";
        templates.forEach(function (t) { templateName.appendChild(el("option", { value: t.name, text: t.name.replace(/_/g, " ") })); });
        templateReason.textContent = reason || "";
        templateReason.hidden = !reason;
        templateError.hidden = true;
        templateSend.disabled = !templates.length;
        if (!templates.length) {
          templateError.textContent = t("template.none");
          templateError.hidden = false;
        }
        renderTemplateVars();
        if (!templateDialog.open) templateDialog.showModal();
      }).catch(fail);
    }
    templateName.addEventListener("change", renderTemplateVars);
    templateVars.addEventListener("input", renderTemplatePreview);
    document.getElementById("template-open").addEventListener("click", function () { openTemplates(null); });
    document.getElementById("template-cancel").addEventListener("click", function () { templateDialog.close(); });
    document.getElementById("template-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var template = chosenTemplate();
      if (!template || !state.selected) return;
      var values = templateValues();
      var missing = (template.variables || []).filter(function (v) { return !values[v]; });
      if (missing.length) {
        templateError.textContent = t("template.fill_in", { fields: missing.map(function (v) { return labelOf(VARIABLE_LABELS, v); }).join(", ") });
        templateError.hidden = false;
        return;
      }
      var id = state.selected;
      templateSend.disabled = true;
      api("POST", "/api/v1/conversations/" + id + "/messages", { template: template.name, variables: values })
        .then(function (result) {
          templateDialog.close();
          hideComposerNotice();
          toast(t("toast.template_sent"));
          appendMessage(result.data);
          refreshSoon();
        }, function (err) {
          templateError.textContent = errorText(err);
          templateError.hidden = false;
        }).then(function () { templateSend.disabled = false; });
    });

    // -- canned responses
    function cannedLanguageFor(c) {
      return c && ["az", "ru", "en"].indexOf(c.language) >= 0 ? c.language : "az";
    }
    function renderCanned() {
      var needle = cannedSearch.value.trim().toLowerCase();
      var language = cannedLanguage.value;
      cannedList.textContent = "";
      var shown = (state.canned || []).filter(function (entry) {
        if (!needle) return true;
        var titles = entry.titles ? Object.keys(entry.titles).map(function (key) { return entry.titles[key]; }) : [];
        var haystack = [entry.title, entry.id].concat(titles, entry.tags || [], [entry.texts[language]]).join(" ").toLowerCase();
        return haystack.indexOf(needle) >= 0;
      });
      shown.forEach(function (entry, index) {
        cannedList.appendChild(el("li", {
          className: "canned-item" + (index === 0 ? " active" : ""), role: "option", "aria-selected": String(index === 0),
          data: { id: entry.id }, on: { mousedown: function (event) { event.preventDefault(); chooseCanned(entry); } }
        }, [el("strong", { text: entry.title }),
            el("span", { className: "muted small", text: entry.texts[language] })]));
      });
      if (!shown.length) cannedList.appendChild(el("li", { className: "muted pad small", text: t("canned.none") }));
    }
    function openCanned() {
      if (!state.selected) return;
      // Asked anew for each opening: the server fills the variables for this conversation
      // (its resident's name may have been corrected meanwhile) and lists only the responses
      // of the agent's queues and the global ones.
      var language = cannedLanguageFor(state.detail);
      var ready = api("GET", "/api/v1/canned?conversation_id=" + encodeURIComponent(state.selected))
        .then(function (result) {
          state.canned = result.data.responses;
          language = result.data.language || language;
        });
      ready.then(function () {
        cannedLanguage.value = language;
        cannedSearch.value = "";
        cannedBox.hidden = false;
        renderCanned();
        cannedSearch.focus();
      }).catch(fail);
    }
    function closeCanned() { cannedBox.hidden = true; }
    function chooseCanned(entry) {
      var text = entry.texts[cannedLanguage.value];
      var start = composerText.selectionStart;
      var current = composerText.value;
      composerText.value = current ? current.slice(0, start) + text + current.slice(composerText.selectionEnd) : text;
      closeCanned();
      composerText.focus();
    }
    function moveCanned(step) {
      var items = Array.prototype.slice.call(cannedList.querySelectorAll(".canned-item"));
      if (!items.length) return;
      var index = items.findIndex(function (item) { return item.classList.contains("active"); });
      items.forEach(function (item) { item.classList.remove("active"); item.setAttribute("aria-selected", "false"); });
      var next = items[(index + step + items.length) % items.length];
      next.classList.add("active");
      next.setAttribute("aria-selected", "true");
      next.scrollIntoView({ block: "nearest" });
    }
    document.getElementById("canned-open").addEventListener("click", function () {
      if (cannedBox.hidden) openCanned(); else closeCanned();
    });
    cannedSearch.addEventListener("input", renderCanned);
    cannedLanguage.addEventListener("change", renderCanned);
    // From the search or the list itself (a Tab stop of its own, so it can be scrolled).
    cannedBox.addEventListener("keydown", function (event) {
      if (event.target === cannedLanguage) return;
      if (event.key === "ArrowDown") { event.preventDefault(); moveCanned(1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); moveCanned(-1); }
      else if (event.key === "Escape") { event.preventDefault(); closeCanned(); composerText.focus(); }
      else if (event.key === "Enter") {
        event.preventDefault();
        var active = cannedList.querySelector(".canned-item.active");
        var entry = active && state.canned.filter(function (e) { return e.id === active.dataset.id; })[0];
        if (entry) chooseCanned(entry);
      }
    });
    document.addEventListener("click", function (event) {
      if (!cannedBox.hidden && !cannedBox.contains(event.target) && event.target.id !== "canned-open") closeCanned();
    });

    // -- take next
    document.getElementById("take-next").addEventListener("click", function () {
      api("POST", "/api/v1/queue/next").then(function (result) {
        if (result.status === 204) { toast(t("toast.nothing_waiting")); return; }
        upsert(result.data, false);
        toast(t("toast.assigned_you", { id: result.data.id }));
        return openConversation(result.data.id);
      }).catch(fail);
    });

    // -- keyboard
    var helpDialog = document.getElementById("help-dialog");
    document.getElementById("help-open").addEventListener("click", function () { helpDialog.showModal(); });
    function step(delta) {
      if (!state.items.length) return;
      var index = state.items.findIndex(function (c) { return c.id === state.selected; });
      var next = index < 0 ? 0 : Math.min(Math.max(index + delta, 0), state.items.length - 1);
      openConversation(state.items[next].id);
    }
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (target.closest("input, textarea, select, [contenteditable], dialog[open]")) return;
      if (document.querySelector("dialog[open]")) return;
      var handled = true;
      switch (event.key) {
        case "j": step(1); break;
        case "k": step(-1); break;
        case "r": if (state.selected) { setMode("reply"); composerText.focus(); } break;
        case "n": if (state.selected) { setMode("note"); composerText.focus(); } break;
        case "e": if (state.selected && state.detail.status !== "resolved") setStatus("resolved"); break;
        case "?": helpDialog.showModal(); break;
        default: handled = false;
      }
      if (handled) event.preventDefault();
    });

    // -- live
    function notifyNew() {
      sound.play();
      if (document.hidden) {
        unseenNew += 1;
        document.title = "(" + unseenNew + ") " + baseTitle;
      }
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { unseenNew = 0; document.title = baseTitle; }
    });
    // -- typing, both ways (web chat; the agent's also to Telegram): the resident's shows above the composer for a few
    // seconds; the agent's is passed on at most every 2.5 s while writing a reply.
    var residentTyping = document.getElementById("resident-typing");
    var residentTypingTimer = null, agentTypedAt = 0;
    function residentIsTyping(data) {
      if (data.conversation_id !== state.selected) return;
      residentTyping.hidden = false;
      clearTimeout(residentTypingTimer);
      residentTypingTimer = setTimeout(function () { residentTyping.hidden = true; }, 6000);
    }
    composerText.addEventListener("input", function () {
      var now = Date.now();
      if (state.mode !== "reply" || !state.detail || !channelHas(state.detail.channel, "typing")
          || now - agentTypedAt < 2500) return;
      agentTypedAt = now;
      api("POST", "/api/v1/conversations/" + state.detail.id + "/typing").catch(function () {});
    });

    live({
      "conversation.created": function (data) {
        var c = data.conversation;
        if (!c) return;
        var wasKnown = Boolean(state.byId[c.id]);
        upsert(c, true);
        if (!wasKnown && state.byId[c.id]) notifyNew();
      },
      "conversation.updated": function (data) {
        var c = data.conversation;
        if (!c) return;
        upsert(c, false);
        if (c.id === state.selected) refreshSoon();
      },
      "message.created": function (data) {
        var m = data.message;
        if (!m) return;
        m.conversation_id = m.conversation_id || data.conversation_id;
        var c = state.byId[data.conversation_id];
        if (c && m.created_at) {
          c.last_message_at = m.created_at;
          sortItems();
        }
        if (data.conversation_id === state.selected && m.direction === "in") residentTyping.hidden = true;
        if (data.conversation_id === state.selected) appendMessage(m);
        else if (m.direction === "in" && c) state.unread[c.id] = true;
        if (c) renderList();
        if (!c && m.direction === "in" && !state.filters.q) {
          // A conversation we do not hold (older page, new filter match): fetch its summary.
          api("GET", "/api/v1/conversations/" + data.conversation_id).then(function (result) {
            var summary = result.data;
            delete summary.messages;
            delete summary.events;
            state.unread[summary.id] = true;
            upsert(summary, true);
          }, function () {});
        }
      },
      "message.updated": updateDelivery,
      "conversation.typing": residentIsTyping,
      "conversation.whisper": function (data) {
        if (window.CC.hooks.whisper) window.CC.hooks.whisper(data);
      },
      "sla.updated": function (data) {
        if (me.role === "supervisor" || me.role === "admin") {
          var known = state.byId[data.conversation_id] || (state.detail && state.detail.id === data.conversation_id ? state.detail : null);
          var slaValues = { id: data.conversation_id, name: known ? contactName(known.contact) : "",
                            clock: data.clock === "resolution" ? t("sla.clock_resolution") : t("sla.clock_first") };
          toast(data.state === "breached" ? t("toast.sla_breached", slaValues) : t("toast.sla_at_risk", slaValues),
                data.state === "breached" ? "error" : "warn");
        }
        if (data.conversation_id === state.selected) { refreshSoon(); return; }
        if (!state.byId[data.conversation_id]) return;
        api("GET", "/api/v1/conversations/" + data.conversation_id).then(function (result) {
          var summary = result.data;
          delete summary.messages;
          delete summary.events;
          upsert(summary, false);
        }, function () {});
      },
      "agent.updated": function (data) {
        if (data.agent_id === me.id && presence) presence.mark(data.presence);
        if (state.agents[data.agent_id]) state.agents[data.agent_id].presence = data.presence;
        if (transferDialog.open) loadTransferTargets(true).catch(function () {});
      },
      onresync: function (first) {
        if (first && !state.listToken) return;   // the first load is still to come: it is current
        loadList(false);
        if (state.selected) refreshDetail(false);
      }
    });

    // Waiting times and SLA colours move with the clock.
    setInterval(function () {
      renderList();
      if (state.detail) renderHeader(state.detail);
    }, 30000);

    Promise.all([loadChannels(), loadQueues(), loadAgents(), loadTags()]).then(function () { return loadList(false); });
  }

  /* A short two-tone chime through WebAudio; off until the agent turns it on. */
  function soundToggle() {
    var button = document.getElementById("sound-toggle");
    var on = window.localStorage.getItem("cc.sound") === "on";
    var audio = null;
    function show() {
      button.setAttribute("aria-pressed", String(on));
      button.textContent = "";
      button.appendChild(icon(on ? SOUND_ON : SOUND_OFF));
      button.title = on ? t("console.sound_on") : t("console.sound_off");
      button.setAttribute("aria-label", button.title);
    }
    button.addEventListener("click", function () {
      on = !on;
      window.localStorage.setItem("cc.sound", on ? "on" : "off");
      show();
      if (on) play();
    });
    function play() {
      if (!on) return;
      var Context = window.AudioContext || window.webkitAudioContext;
      if (!Context) return;
      audio = audio || new Context();
      var now = audio.currentTime;
      [880, 1175].forEach(function (frequency, index) {
        var oscillator = audio.createOscillator();
        var gain = audio.createGain();
        oscillator.type = "sine";
        oscillator.frequency.value = frequency;
        gain.gain.setValueAtTime(0.0001, now + index * 0.12);
        gain.gain.exponentialRampToValueAtTime(0.15, now + index * 0.12 + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, now + index * 0.12 + 0.18);
        oscillator.connect(gain).connect(audio.destination);
        oscillator.start(now + index * 0.12);
        oscillator.stop(now + index * 0.12 + 0.2);
      });
    }
    show();
    return { play: play };
  }

  // --- start ---------------------------------------------------------------------------------

  var page = body.dataset.page;
  if (page === "login") {
    loginPage();
  } else {
    setupLogout();
    setupLanguage();
    if (page === "console") consolePage();
    else if (document.getElementById("presence")) window.CC.presence = setupPresence();
  }
})();
