/* The agent console, and the helpers its sibling pages (wall-board, reports) share through
   window.CC: API calls with the CSRF header, DOM building without innerHTML, the live event
   stream, the presence switch. Residents' text is only ever set with textContent. */
(function () {
  "use strict";

  // --- shared helpers ------------------------------------------------------------------------

  var body = document.body;
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
    webchat: { label: "Web chat", path: "M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z" },
    sms: { label: "SMS", path: "M7 2h10a2 2 0 0 1 2 2v16a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm0 3v13h10V5H7zm4 14.5h2" },
    whatsapp: { label: "WhatsApp", path: "M12 2a10 10 0 0 0-8.7 14.9L2 22l5.3-1.3A10 10 0 1 0 12 2zm-3.5 5.5c.3 0 .6 0 .8.6l.9 2.1c.1.3 0 .5-.2.7l-.6.7c.8 1.5 2 2.6 3.5 3.4l.7-.8c.2-.2.5-.3.8-.2l2 .9c.4.2.5.4.4.8-.2 1.1-1.3 1.9-2.4 1.8-3.6-.4-7-3.8-7.3-7.4-.1-1.2.6-2.3 1.4-2.6z" },
    voice: { label: "Voice call", path: "M6.6 10.8a15 15 0 0 0 6.6 6.6l2.2-2.2c.3-.3.7-.4 1-.2 1.1.4 2.3.6 3.6.6.6 0 1 .4 1 1V20c0 .6-.4 1-1 1A17 17 0 0 1 3 4c0-.6.4-1 1-1h3.5c.6 0 1 .4 1 1 0 1.3.2 2.5.6 3.6.1.3 0 .7-.2 1l-2.3 2.2z" },
    telegram: { label: "Telegram", path: "M21.5 3.5 2.8 10.8c-1 .4-1 1.2-.2 1.5l4.8 1.5 1.8 5.6c.2.6.4.8.9.8.4 0 .6-.2.9-.5l2.3-2.2 4.8 3.5c.9.5 1.5.2 1.7-.8l3.1-14.8c.3-1.3-.5-1.9-1.4-1.9zM9 13.6l9-5.7-7.3 6.8-.3 3.2L9 13.6z" },
    email: { label: "E-mail", path: "M3 5h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1zm1 2.4V17h16V7.4l-8 5.3-8-5.3zM5.2 7 12 11.5 18.8 7H5.2z" }
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
    var known = CHANNELS[channel] || { label: channel || "unknown", path: "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z" };
    return el("span", { className: "ch-icon ch-" + (channel || "unknown"), title: known.label,
                        role: "img", "aria-label": known.label }, [icon(known.path)]);
  }

  function channelLabel(channel) {
    return (CHANNELS[channel] || { label: channel }).label;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + "s";
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + "m";
    var hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + "h" + (minutes % 60 ? " " + (minutes % 60) + "m" : "");
    var days = Math.floor(hours / 24);
    return days + "d" + (hours % 24 ? " " + (hours % 24) + "h" : "");
  }

  function since(iso) {
    return iso ? (Date.now() - new Date(iso).getTime()) / 1000 : null;
  }

  function clock(iso) {
    if (!iso) return "";
    var at = new Date(iso);
    var sameDay = at.toDateString() === new Date().toDateString();
    var time = at.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    return sameDay ? time : at.toLocaleDateString("en-GB", { day: "numeric", month: "short" }) + " " + time;
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
    var item = el("div", { className: "toast toast-" + (kind || "info"), text: text });
    box.appendChild(item);
    setTimeout(function () { item.classList.add("toast-out"); }, 3500);
    setTimeout(function () { item.remove(); }, 4000);
  }

  function fail(error) {
    if (error && error.status === 401) return;
    toast((error && error.message) || "Something went wrong", "error");
  }

  /* The live event stream. handlers: {type: fn(data)}, plus onresync() after a reconnect. */
  function live(handlers) {
    var indicator = document.getElementById("live-state");
    var source = null;
    var dropped = false;
    function show(state, label) {
      if (!indicator) return;
      indicator.dataset.state = state;
      indicator.querySelector(".live-label").textContent = label;
    }
    function connect() {
      source = new EventSource("/api/v1/stream");
      source.onopen = function () {
        show("live", "Live");
        if (dropped && handlers.onresync) handlers.onresync();
        dropped = false;
      };
      source.onerror = function () {
        dropped = true;
        show("down", "Reconnecting…");
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
    function post(state) {
      return api("POST", "/api/v1/me/presence", { presence: state }).then(function (result) {
        mark(result.data.presence);
      });
    }
    group.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-presence]");
      if (button) post(button.dataset.presence).catch(fail);
    });
    api("GET", "/api/v1/me").then(function (result) {
      me.id = result.data.id;
      me.name = result.data.name;
      mark(result.data.presence);
    }).catch(fail);
    setInterval(function () { if (current) post(current).catch(function () {}); }, 60000);
    return { mark: mark, current: function () { return current; } };
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

  window.CC = { api: api, el: el, channelIcon: channelIcon, channelLabel: channelLabel,
                duration: duration, since: since, clock: clock, toast: toast, fail: fail,
                live: live, me: me };

  // --- login page ----------------------------------------------------------------------------

  /* Where to go after signing in: `next` only as the browser itself resolves it, and only if
     that stays on this site (the server checks too; this holds whatever the page was given). */
  function sameOriginPath(next) {
    var url;
    try { url = new URL(next || "/console", location.origin); } catch (e) { return "/console"; }
    if (url.origin !== location.origin) return "/console";
    return url.pathname + url.search + url.hash;
  }

  var LOGIN_TEXTS = {
    az: { email: "E-poçt ünvanınızı daxil edin.", password: "Şifrənizi daxil edin.",
          both: "E-poçt ünvanınızı və şifrənizi daxil edin.",
          wrong: "E-poçt ünvanı və ya şifrə yanlışdır.",
          wait: "Çoxlu uğursuz cəhd. {s} saniyədən sonra yenidən cəhd edin." },
    ru: { email: "Введите адрес электронной почты.", password: "Введите пароль.",
          both: "Введите адрес электронной почты и пароль.",
          wrong: "Неверный адрес электронной почты или пароль.",
          wait: "Слишком много неудачных попыток. Повторите через {s} с." },
    en: { email: "Enter your e-mail address.", password: "Enter your password.",
          both: "Enter your e-mail address and password.",
          wrong: "Wrong e-mail or password.",
          wait: "Too many failed attempts. Try again in {s} s." }
  };

  function loginPage() {
    var form = document.getElementById("login-form");
    var error = document.getElementById("login-error");
    var email = document.getElementById("login-email");
    var password = document.getElementById("login-password");
    var texts = LOGIN_TEXTS[document.documentElement.lang] || LOGIN_TEXTS.en;
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
        show(!address && !password.value ? texts.both : !address ? texts.email : texts.password,
             !address ? email : password);
        return;
      }
      var submit = document.getElementById("login-submit");
      submit.disabled = true;
      api("POST", "/api/v1/auth/login", { email: address, password: password.value }).then(function () {
        location.href = sameOriginPath(form.dataset.next);
      }, function (err) {
        var wait = err.data && err.data.retry_after_s;
        show(err.status === 401 ? texts.wrong
          : err.status === 429 ? texts.wait.replace("{s}", wait || 60)
          : err.status === 400 ? texts.both : err.message);
        submit.disabled = false;
      });
    });
  }

  // --- the console ---------------------------------------------------------------------------

  var CATEGORY_LABELS = { inquiry: "Inquiry", registration: "Registration", support: "Support" };
  var STATUS_LABELS = { waiting: "Waiting", open: "Open", pending: "Pending", resolved: "Resolved" };
  var DELIVERY = {
    queued: { mark: "◷", label: "Queued" }, sent: { mark: "✓", label: "Sent" },
    delivered: { mark: "✓✓", label: "Delivered" }, read: { mark: "✓✓", label: "Read" },
    failed: { mark: "!", label: "Failed" }, received: { mark: "", label: "Received" }
  };
  var NAME_FALLBACK = { az: "vətəndaş", ru: "гражданин(ка)", en: "resident" };
  // The outbox's internal claim is still "queued" to agents (as the API says it).
  var DELIVERY_ALIASES = { sending: "queued" };
  var LANGUAGE_NAMES = { az: "Azerbaijani", ru: "Russian", en: "English" };
  var CALL_REASONS = { registration: "Registration", support: "Support", information: "Information",
                       operator: "Operator" };
  // A missed call's reason and a call's end status: the inbox's neutral call outcomes.
  var MISSED_REASONS = {
    no_answer: "no answer", busy: "line busy", canceled: "caller hung up", failed: "call failed",
    closed: "outside business hours", no_agent: "no agent free", hung_up_in_menu: "hung up in the menu"
  };
  var PRESENCE_ORDER = { online: 0, away: 1, offline: 2 };
  var MATCH_KINDS = { fin: "FIN", id_card: "ID card", phone: "phone", email: "e-mail" };

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
    // E-mail texts in the page's language (templates/console/email.yaml), English otherwise.
    var emailTexts = JSON.parse(thread.dataset.emailTexts || "{}");
    var mailTexts = emailTexts[document.documentElement.lang] || emailTexts.en || {};
    function mailText(key, values) {
      return (mailTexts[key] || key).replace(/\{(\w+)\}/g, function (whole, name) {
        return values && values[name] !== undefined ? values[name] : whole;
      });
    }
    var composerNotice = document.getElementById("composer-notice");
    var presence = setupPresence();
    var sound = soundToggle();
    var baseTitle = document.title;
    var unseenNew = 0;

    // -- names
    function agentName(id) {
      if (id === null || id === undefined) return null;
      if (id === me.id) return "You";
      var agent = state.agents[id];
      return agent && agent.name ? agent.name : "Agent #" + id;
    }
    function queueName(id) {
      var queue = state.queues[id];
      return queue ? queue.name : (id || "–");
    }
    function contactName(contact) {
      if (!contact) return "Unknown";
      return contact.name || maskPhone(contact.phone) || contact.email || ("Contact #" + contact.id);
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
          select.appendChild(el("option", { value: queue.id, text: queue.name, title: queue.name }));
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
      var which = c.first_response_at ? "Resolution" : "First response";
      var left = (new Date(c.sla_due_at).getTime() - Date.now()) / 1000;
      var due = "due " + clock(c.sla_due_at);
      if (c.sla_state === "breached" || left < 0) {
        return { level: "breached", state: "breached",
                 text: which + " SLA breached · was " + due + (left < 0 ? " (" + duration(-left) + " ago)" : "") };
      }
      var relative = " (in " + duration(left) + ")";
      if (c.sla_state === "at_risk") {
        return { level: "risk", state: "at_risk", text: which + " SLA at risk · " + due + relative };
      }
      return { level: "ok", state: "ok", text: which + " " + due + relative };
    }
    function waitLabel(c) {
      if (!c.first_response_at && c.status !== "resolved") {
        return { text: duration(since(c.created_at)), title: "Waiting for a first reply since " + clock(c.created_at) };
      }
      return { text: duration(since(c.last_message_at)), title: "Last activity " + clock(c.last_message_at) };
    }
    function categoryBadge(c) {
      if (!c.category) return el("span", { className: "badge badge-none", text: "Unclassified" });
      var confidence = c.category_confidence === null || c.category_confidence === undefined
        ? null : Math.round(c.category_confidence * 100);
      var low = confidence !== null && confidence < 60;
      return el("span", {
        className: "badge badge-" + c.category + (low ? " badge-low" : ""),
        title: "Category " + c.category + (confidence !== null ? ", confidence " + confidence + "%" : "")
      }, [CATEGORY_LABELS[c.category] || c.category,
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
            c.status !== "open" ? el("span", { className: "status-tag status-" + c.status, text: STATUS_LABELS[c.status] || c.status }) : null,
            el("span", { className: "row-wait", text: wait.text, title: wait.title })
          ]),
          el("div", { className: "row-bottom" }, [
            categoryBadge(c),
            c.language ? el("span", { className: "chip chip-lang", text: c.language.toUpperCase(), title: "Language" }) : null,
            el("span", { className: "row-queue", text: queueName(c.queue), title: queueName(c.queue) }),
            el("span", { className: "row-right" }, [
              sla ? el("span", { className: "sla-dot sla-" + sla.level, title: sla.text, "aria-label": sla.text,
                                 role: "img", data: { sla: sla.state } }) : null,
              el("span", { className: "row-assignee" + (assignee ? "" : " muted"),
                           text: assignee || "Unassigned", title: "Assignee" })
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
      return api("GET", "/api/v1/conversations/" + id).then(function (result) {
        if (state.selected !== id) return;
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
      meta.appendChild(el("span", { className: "sep", text: "·" }));
      meta.appendChild(el("span", { className: "meta-queue", text: queueName(c.queue), title: "Queue: " + queueName(c.queue) }));
      if (c.language) meta.appendChild(el("span", { className: "chip chip-lang", text: c.language.toUpperCase() }));
      meta.appendChild(el("span", { className: "status-tag status-" + c.status, id: "conv-status",
                                    text: STATUS_LABELS[c.status] || c.status }));
      meta.appendChild(el("span", { className: "muted", text: "Assignee: " + (agentName(c.assignee) || "nobody") }));
      if (sla) meta.appendChild(el("span", { className: "sla-text sla-" + sla.level, title: sla.text },
                                       [el("span", { className: "sla-dot sla-" + sla.level }), sla.text]));
      if (c.reply_to) {
        meta.appendChild(el("span", { className: "chip chip-reply-to", id: "conv-reply-to", title: mailText("reply_to_title"),
                                      text: mailText("reply_to", { where: [c.reply_to.phone, c.reply_to.email].filter(Boolean).join(" · ") }) }));
      }
      var category = document.getElementById("conv-category");
      category.textContent = "";
      category.appendChild(categoryBadge(c));
      document.getElementById("category-select").value = c.category || "inquiry";
      var resolved = c.status === "resolved";
      document.getElementById("act-resolve").hidden = resolved;
      document.getElementById("act-pending").hidden = resolved || c.status === "pending";
      document.getElementById("act-reopen").hidden = !resolved && c.status !== "pending";
      document.getElementById("act-assign-me").hidden = c.assignee === me.id;
      document.getElementById("composer-channel").textContent =
        state.mode === "note" ? "Only agents see notes" : "Goes out by " + channelLabel(c.channel);
      document.getElementById("template-open").hidden = !channelHas(c.channel, "templates") || state.mode === "note";
    }

    /* The resident's Telegram account as the message came: "Name @username". */
    function telegramHandle(t) {
      return [t.name, t.username ? "@" + t.username : null].filter(Boolean).join(" ");
    }
    function authorLabel(m) {
      var kind = m.author ? m.author.kind : null;
      if (m.direction === "in") return contactName(state.detail.contact);
      if (kind === "agent") return agentName(m.author.id) || "Agent";
      if (kind === "system") return "Auto-reply";
      return kind ? kind.charAt(0).toUpperCase() + kind.slice(1) : "System";
    }
    function safeUrl(url) {
      if (!url) return null;
      try {
        var parsed = new URL(url, location.href);
        return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
      } catch (e) { return null; }
    }
    function size(bytes) {
      if (!bytes && bytes !== 0) return "";
      if (bytes < 1024) return bytes + " B";
      if (bytes < 1048576) return Math.round(bytes / 1024) + " KB";
      return (bytes / 1048576).toFixed(1) + " MB";
    }
    function attachmentNode(a) {
      var url = safeUrl(a.url);
      var name = a.filename || a.content_type || "attachment";
      var type = a.content_type || "";
      var label = [name, size(a.size)].filter(Boolean).join(" · ");
      if (a.error) {
        // Why it never arrived (refused type, too large, the provider said no): no link.
        return el("span", { className: "attachment attachment-error", title: a.error }, [
          el("span", { className: "attachment-name", text: label }),
          el("span", { className: "attachment-reason", text: a.error })]);
      }
      if (!url) return el("span", { className: "attachment attachment-file muted", text: label + " (not fetched yet)" });
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
        m.sent_by ? el("span", { className: "delivery-route", text: mailText("sent_by_" + m.sent_by.channel, { address: m.sent_by.address }) }) : null
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
      var holder = htmlFrame(m, "E-mail from " + authorLabel(m));
      var plain = el("div", { className: "msg-body msg-plain", text: m.body || "" });
      var toggle = el("button", { type: "button", className: "btn btn-sm btn-link msg-toggle" });
      function show(showPlain) {
        plain.hidden = !showPlain;
        holder.hidden = showPlain;
        toggle.textContent = showPlain ? "Show formatted" : "Show plain text";
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
        button.textContent = mailText(open ? hideKey : showKey);
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
        el("dt", { text: mailText("subject") }),
        el("dd", { className: "mail-subject" + (mail.subject ? "" : " muted"), text: mail.subject || mailText("no_subject") }),
        el("dt", { text: mailText("from") }), el("dd", { className: "mail-from", text: from })
      ].concat(mailAddresses(mailText("to"), "mail-to", mail.to), mailAddresses(mailText("cc"), "mail-cc", mail.cc)));
      var box = el("div", { className: "msg-mail" }, [head]);
      if ((mail.notes || []).length) {
        box.appendChild(el("p", { className: "mail-notes", role: "note" },
                           [el("span", { "aria-hidden": "true", text: "⚠ " }),
                            mailText("unreadable") + " " + mail.notes.join(" · ")]));
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
            original.appendChild(htmlFrame(m, mailText("original_title", { name: from || authorLabel(m) })));
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
        el("dl", { className: "mail-head" }, [el("dt", { text: mailText("subject") }),
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
        content = el("div", { className: "msg-body msg-call" }, [icon(CHANNELS.voice.path), "Phone call"]);
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
      return el("li", { className: "msg msg-" + m.direction + (call ? " msg-call-item" : ""), data: { messageId: m.id } }, [
        el("div", { className: "msg-meta" }, [
          note ? el("span", { className: "note-tag", text: "Internal note" }) : null,
          el("span", { className: "msg-author", text: authorLabel(m) }),
          m.telegram ? el("span", { className: "msg-telegram", text: telegramHandle(m.telegram) }) : null,
          m.author && m.author.kind && m.direction !== "in"
            ? el("span", { className: "msg-kind", text: m.author.kind }) : null,
          el("time", { dateTime: m.created_at, text: clock(m.created_at), title: m.created_at })
        ]),
        content,
        (m.attachments || []).length
          ? el("div", { className: "attachments", "aria-label": m.email ? mailText("attachments") : null },
               (m.email ? [el("span", { className: "attachments-label", text: mailText("attachments") })] : [])
                 .concat(m.attachments.map(attachmentNode))) : null,
        deliveryNode(m)
      ]);
    }
    function clockName(name) {
      return name === "resolution" ? "Resolution" : "First-response";
    }
    function callLength(seconds) {
      seconds = Math.max(0, Math.round(Number(seconds) || 0));
      var minutes = Math.floor(seconds / 60);
      if (minutes >= 60) return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
      return minutes ? minutes + " min " + (seconds % 60) + " s" : seconds + " s";
    }
    function voiceText(e) {
      var d = e.data || {};
      switch (e.type) {
        case "call_started": return "Call started";
        case "ivr_choice":
          return "Chose " + [LANGUAGE_NAMES[d.language] || (d.language || "no language"),
                             CALL_REASONS[d.reason] || d.reason].filter(Boolean).join(" · ");
        case "ringing": return "Ringing " + (agentName(d.agent_id) || "an agent");
        case "connected": return "Connected to " + (agentName(d.agent_id) || "an agent");
        case "missed":
          return "Missed: " + (MISSED_REASONS[d.reason] || String(d.reason || "not answered").replace(/[_-]/g, " "))
            + (d.agent_id ? " (" + agentName(d.agent_id) + ")" : "");
        case "call_ended":
          return "Call ended after " + callLength(d.duration_s)
            + (d.status && d.status !== "completed" ? " (" + (MISSED_REASONS[d.status] || d.status) + ")" : "");
        case "callback_requested":
          return "Callback requested" + (d.queue ? " · " + queueName(d.queue) : "");
        case "voicemail_transcribed":
          return d.transcribed === false ? "Voicemail could not be transcribed" : "Voicemail transcribed";
      }
      return null;
    }
    function eventText(e) {
      var d = e.data || {};
      var who = e.actor ? agentName(e.actor) : null;
      var by = who ? " by " + who : "";
      if (CALL_EVENTS[e.type]) return voiceText(e);
      switch (e.type) {
        case "classified":
          return "Classified as " + d.category + " (" + Math.round((d.confidence || 0) * 100) + "%, "
            + (d.language || "?") + ", " + (d.source || "model") + ")";
        case "routed": return "Routed to " + queueName(d.queue) + (d.reason ? " — " + d.reason : "");
        case "assigned": return "Assigned to " + (agentName(d.agent_id) || "?") + (d.reason ? " — " + d.reason : "");
        case "unassigned": return "Unassigned from " + (agentName(d.agent_id) || "?") + (d.reason ? " — " + d.reason : "") + by;
        case "reassigned": return "Reassigned from " + (agentName(d.from) || "?") + " to " + (agentName(d.to) || "?");
        case "offer_expired": return "Offer to " + (agentName(d.agent_id) || "?") + " expired" + (d.reason ? " — " + d.reason : "");
        case "transferred": return "Transferred from " + queueName(d.from) + " to " + queueName(d.to) + by;
        case "resolved": return "Resolved" + by;
        case "reopened": return "Reopened" + by;
        case "status_changed": return "Status " + (d.from || "?") + " → " + (d.to || "?") + by;
        case "reclassified": return "Category corrected " + (d.from || "none") + " → " + d.to + by;
        case "sla_at_risk": return clockName(d.clock) + " SLA at risk (due " + clock(d.due_at) + ")";
        case "sla_breached": return clockName(d.clock) + " SLA breached";
        case "delivery_failed": return "Delivery failed" + (d.error ? ": " + d.error : "");
        case "merged_into": return "Merged into conversation #" + d.conversation;
        case "conversations_merged": return "Conversation merged in" + by;
        case "split": return "Split into conversation #" + d.into + by;
        case "split_from": return "Split from conversation #" + d.conversation + by;
        case "contacts_merged":
          return "Contact #" + d.from + " merged into #" + d.into
            + (d.match ? " (possible match on " + (MATCH_KINDS[d.match.kind] || d.match.kind) + " " + d.match.value + ")" : "") + by;
        case "message_edited": return "The resident edited a message; it said: “" + (d.previous || "") + "”";
        case "contact_renamed": return "Contact renamed " + (d.from ? "“" + d.from + "” " : "") + "to “" + d.to + "”" + by;
        default: return e.type.replace(/_/g, " ") + by;
      }
    }
    function eventNode(e) {
      var voice = Boolean(CALL_EVENTS[e.type]);
      return el("li", { className: "event event-" + e.type + (voice ? " event-voice" : ""),
                        data: { eventId: e.id, type: e.type } }, [
        voice ? icon(CHANNELS.voice.path) : null,
        el("span", { className: "event-text", text: eventText(e) }),
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
      renderComposerMail();
      renderThread(scrollToEnd);
    }
    function appendMessage(m) {
      if (!state.detail || state.detail.id !== m.conversation_id) return;
      if (state.detail.messages.some(function (x) { return x.id === m.id; })) return;
      state.detail.messages.push(m);
      renderThread(true);
    }
    function updateDelivery(data) {
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
        pane.appendChild(el("p", { className: "muted pad", text: "Loading the contact…" }));
      }
      return api("GET", "/api/v1/contacts/" + contactId).then(function (result) {
        if (!state.detail || state.detail.contact.id !== contactId) return;
        state.contact = result.data;
        // A live update must not throw away a name the agent is typing.
        if (!fresh && pane.querySelector(".name-form")) return;
        renderContact(pane, result.data);
      }, function (error) {
        pane.textContent = "";
        pane.appendChild(el("p", { className: "muted pad", text: "Contact details unavailable (" + error.message + ")." }));
      });
    }
    function renderContact(pane, contact) {
      var name = contactName(contact);
      var initials = (contact.name || "?").split(/\s+/).map(function (part) { return part.charAt(0); }).join("").slice(0, 2).toUpperCase();
      var details = [["Phone", contact.phone], ["E-mail", contact.email],
                     ["Language", contact.language ? contact.language.toUpperCase() : null]]
        .filter(function (pair) { return pair[1]; });
      pane.textContent = "";
      var heading = el("div", { className: "contact-heading" }, [
        el("h3", { id: "contact-name", text: name }),
        el("button", { type: "button", className: "btn btn-sm", id: "contact-name-edit",
                       title: "Edit the contact's name", text: contact.name ? "Edit name" : "Add name",
                       on: { click: function () { editName(heading, contact); } } })]);
      pane.appendChild(el("div", { className: "contact-card" }, [
        el("div", { className: "avatar", "aria-hidden": "true", text: initials }),
        el("div", { className: "contact-title" }, [heading, el("p", { className: "muted small", text: "Contact #" + contact.id })])
      ]));
      renderMatches(pane, contact);
      if (details.length) {
        pane.appendChild(el("dl", { className: "contact-details" }, [].concat.apply([], details.map(function (pair) {
          return [el("dt", { text: pair[0] }), el("dd", { text: pair[1] })];
        }))));
      }
      pane.appendChild(el("h4", { className: "pane-title", text: "Identities" }));
      pane.appendChild(el("ul", { className: "identities" }, (contact.identities || []).map(function (identity) {
        var address = channelHas(identity.channel, "phone_address")
          ? maskPhone(identity.address) : identity.channel === "webchat" ? "chat session" : identity.address;
        return el("li", {}, [channelIcon(identity.channel),
          el("span", { className: "identity-text" }, [
            el("span", { text: identity.display_name || channelLabel(identity.channel) }),
            el("span", { className: "muted small", text: address || "" })])]);
      })));
      var others = contact.conversations || [];
      pane.appendChild(el("h4", { className: "pane-title", text: "Conversations (" + others.length + ")" }));
      pane.appendChild(el("ul", { className: "history" }, others.map(function (c) {
        return el("li", {}, [el("button", {
          type: "button", className: "history-item" + (c.id === state.selected ? " current" : ""),
          data: { id: c.id }, on: { click: function () { openConversation(c.id); } }
        }, [channelIcon(c.channel),
            el("span", { className: "history-text" }, [
              el("span", { text: "#" + c.id + " · " + (CATEGORY_LABELS[c.category] || c.category || "unclassified") }),
              el("span", { className: "muted small", text: clock(c.created_at) + " · " + queueName(c.queue) })]),
            el("span", { className: "status-tag status-" + c.status, text: STATUS_LABELS[c.status] || c.status })])]);
      })));
    }

    function editName(heading, contact) {
      var input = el("input", { className: "input input-sm", id: "contact-name-input", maxLength: 200,
                                required: true, value: contact.name || "", "aria-label": "Contact name" });
      var form = el("form", { className: "name-form" }, [input,
        el("button", { type: "submit", className: "btn btn-sm btn-primary", id: "contact-name-save", text: "Save" }),
        el("button", { type: "button", className: "btn btn-sm", text: "Cancel",
                       on: { click: function () { renderContact(document.getElementById("contact-pane"), contact); } } })]);
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        var value = input.value.trim();
        if (!value) return;
        api("PATCH", "/api/v1/contacts/" + contact.id, { name: value }).then(function (result) {
          state.contact = result.data;
          renderContact(document.getElementById("contact-pane"), result.data);
          toast("Name saved");
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
      pane.appendChild(el("h4", { className: "pane-title", text: "Possible matches (" + matches.length + ")" }));
      pane.appendChild(el("p", { className: "muted small pad-x", text:
        "Typed in a message, not vouched for: merge only when you are sure it is the same person." }));
      pane.appendChild(el("ul", { className: "matches" }, matches.map(function (match) {
        var other = match.contact;
        var who = other.visible ? (other.name || "Contact #" + other.id) : "Contact #" + other.id + " (outside your queues)";
        return el("li", { className: "match", data: { matchId: match.id } }, [
          el("span", { className: "match-text" }, [
            el("span", { text: "Same " + (MATCH_KINDS[match.kind] || match.kind) + " " + match.value }),
            el("span", { className: "muted small", text: who + " · " + clock(match.found_at) })]),
          el("span", { className: "match-actions" }, [
            el("button", { type: "button", className: "btn btn-sm btn-primary match-confirm", text: "Confirm merge",
                           disabled: !other.visible,
                           title: other.visible ? "They are one resident: join the other contact into this one"
                             : "You may not see the other contact",
                           on: { click: function () { decideMatch(contact.id, match.id, "confirm"); } } }),
            el("button", { type: "button", className: "btn btn-sm match-dismiss", text: "Not the same",
                           on: { click: function () { decideMatch(contact.id, match.id, "dismiss"); } } })])]);
      })));
    }
    function decideMatch(contactId, matchId, decision) {
      api("POST", "/api/v1/contacts/" + contactId + "/matches/" + matchId + "/" + decision).then(function (result) {
        state.contact = result.data;
        renderContact(document.getElementById("contact-pane"), result.data);
        toast(decision === "confirm" ? "Contacts merged" : "Possible match dismissed");
        refreshDetail(false);
      }, fail);
    }

    // -- actions
    function afterAction(result) {
      if (result && result.data && result.data.id) upsert(result.data, false);
      return refreshDetail(false);
    }
    function setStatus(status) {
      if (!state.selected) return;
      api("POST", "/api/v1/conversations/" + state.selected + "/status", { status: status })
        .then(function (result) {
          toast(status === "resolved" ? "Resolved" : status === "open" ? "Reopened" : "Marked pending");
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
        toast(reroute ? "Category corrected; re-routing" : "Category corrected");
        document.getElementById("category-reroute").checked = false;
        return afterAction(result);
      }).catch(fail);
    });

    /* Transfer: any queue of the deployment, and optionally one of its agents, each with their
       presence and load against capacity (GET …/transfer-targets); choosing someone who is not
       online or is full says so before the transfer. */
    var transferDialog = document.getElementById("transfer-dialog");
    var transferQueue = document.getElementById("transfer-queue");
    var transferAgents = document.getElementById("transfer-agents");
    var transferWarning = document.getElementById("transfer-warning");
    var transferError = document.getElementById("transfer-error");
    var KIND_WORDS = { chat: "chats", email: "e-mails" };
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
      var kind = KIND_WORDS[targets.capacity_kind] || targets.capacity_kind;
      return el("li", {}, [el("label", { className: "agent-option" + (agent ? "" : " agent-anyone")
                                           + (agent && agent.full ? " agent-full" : "") }, [
        el("input", { type: "radio", name: "transfer-agent", value: value, checked: checked,
                      data: { agentId: value } }),
        el("span", { className: "agent-option-name", title: agent ? agent.name : null }, [
          agent ? (agent.name || "Agent #" + agent.id) + (agent.id === me.id ? " (you)" : "") : "Anyone in the queue",
          current ? el("span", { className: "muted small", text: " · assigned now" }) : null
        ]),
        agent ? el("span", { className: "presence-dot presence-" + presenceState, text: presenceState }) : null,
        agent ? el("span", { className: "chip agent-load" + (agent.full ? " chip-full" : ""),
                             text: (agent.full ? "Full " : "") + loadText(agent),
                             title: agent.load + " of " + agent.capacity + " " + kind + " open" }) : null,
        agent && agent.languages && agent.languages.length
          ? el("span", { className: "chip", text: agent.languages.join(" ").toUpperCase(), title: "Languages" }) : null
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
      var name = agent.id === me.id ? "You are" : (agent.name || "Agent #" + agent.id) + " is";
      var kind = KIND_WORDS[targets.capacity_kind] || targets.capacity_kind;
      var reasons = [];
      if (agent.presence !== "online") {
        reasons.push(name + " " + (agent.presence || "offline")
                     + ": the conversation waits for them until they are back online or the resident writes again.");
      }
      if (agent.full) {
        reasons.push(name + " full (" + agent.load + " of " + agent.capacity + " " + kind
                     + " open): this one comes on top.");
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
        transferAgents.appendChild(el("li", { className: "muted small pad-sm", text: "Nobody works " + queueName(queue) + "." }));
      }
      if (!transferAgents.querySelector("input:checked")) transferAgents.querySelector("input").checked = true;
      showTransferRisk();
    }
    function renderTransferQueues(current) {
      transferQueue.textContent = "";
      targets.queues.forEach(function (queue) {
        if (!state.queues[queue.id]) state.queues[queue.id] = queue;   // names queues not worked
        transferQueue.appendChild(el("option", { value: queue.id, title: queue.name,
                                                 text: queue.name + (queue.id === current ? " (now)" : "") }));
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
      transferAgents.appendChild(el("li", { className: "muted small pad-sm", text: "Loading…" }));
      transferDialog.showModal();
      loadTransferTargets(false).catch(function (err) {
        transferError.textContent = err.message;
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
        transferError.textContent = "Choose another queue or an agent.";
        transferError.hidden = false;
        return;
      }
      api("POST", "/api/v1/conversations/" + state.selected + "/assign", payload).then(function (result) {
        transferDialog.close();
        toast("Transferred to " + (agentId ? agentName(agentId) : queueName(queue)));
        if (!state.worked[result.data.queue]) return leaveConversation(result.data.id);
        return afterAction(result);
      }, function (err) {
        transferError.textContent = err.message;
        transferError.hidden = false;
      });
    });

    // -- composer
    function setMode(mode) {
      state.mode = mode;
      composer.dataset.mode = mode;
      composer.querySelectorAll(".composer-tabs button").forEach(function (b) {
        b.setAttribute("aria-selected", String(b.dataset.mode === mode));
      });
      composerText.placeholder = mode === "note" ? "Write an internal note (only agents see it)…"
        : "Write a reply… (type / for canned responses)";
      document.getElementById("composer-send").textContent = mode === "note" ? "Add note" : "Send reply";
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
    document.getElementById("composer-subject-label").textContent = mailText("reply_subject");
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
        composerSignature.appendChild(el("span", { className: "label", text: mailText("signature") }));
        composerSignature.appendChild(el("div", { className: "signature-text", text: draft.signature }));
      } else {
        composerSignature.appendChild(el("span", { className: "muted", text: mailText("no_signature") }));
      }
    }
    var sending = false;
    function send() {
      var text = composerText.value.trim();
      if (!text || !state.selected || sending) return;
      sending = true;
      var id = state.selected;
      var payload = { body: text, private: state.mode === "note" };
      var subject = composerMail.hidden ? "" : composerSubject.value.trim();
      if (subject && subject !== state.subjectDefault) payload.subject = subject;
      api("POST", "/api/v1/conversations/" + id + "/messages", payload)
        .then(function (result) {
          if (state.selected === id) composerText.value = "";
          hideComposerNotice();
          appendMessage(result.data);
          refreshSoon();
        }, function (err) {
          if (err.status === 409 && state.selected === id) {
            // The channel's free-text window has closed (WhatsApp: 24 hours): the server says
            // why; only an approved template may go out now. The draft stays.
            showComposerNotice(err.message);
            if (state.detail && channelHas(state.detail.channel, "templates")) openTemplates(err.message);
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
    var VARIABLE_LABELS = { name: "Resident's name", conversation: "Conversation number", agent: "Agent" };
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
          VARIABLE_LABELS[variable] || variable,
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
          templateError.textContent = "No approved WhatsApp template is configured.";
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
        templateError.textContent = "Fill in " + missing.join(", ") + ".";
        templateError.hidden = false;
        return;
      }
      var id = state.selected;
      templateSend.disabled = true;
      api("POST", "/api/v1/conversations/" + id + "/messages", { template: template.name, variables: values })
        .then(function (result) {
          templateDialog.close();
          hideComposerNotice();
          toast("Template sent");
          appendMessage(result.data);
          refreshSoon();
        }, function (err) {
          templateError.textContent = err.message;
          templateError.hidden = false;
        }).then(function () { templateSend.disabled = false; });
    });

    // -- canned responses
    function cannedLanguageFor(c) {
      return c && ["az", "ru", "en"].indexOf(c.language) >= 0 ? c.language : "az";
    }
    function fillVariables(text, language) {
      var c = state.detail || {};
      var values = {
        name: (c.contact && c.contact.name) || NAME_FALLBACK[language],
        reference: c.id ? String(c.id) : "",
        agent: me.name || ""
      };
      return text.replace(/\{(name|reference|agent)\}/g, function (_, key) { return values[key]; });
    }
    function renderCanned() {
      var needle = cannedSearch.value.trim().toLowerCase();
      var language = cannedLanguage.value;
      cannedList.textContent = "";
      var shown = (state.canned || []).filter(function (entry) {
        if (!needle) return true;
        var haystack = [entry.title, entry.id].concat(entry.tags || [], [entry.texts[language]]).join(" ").toLowerCase();
        return haystack.indexOf(needle) >= 0;
      });
      shown.forEach(function (entry, index) {
        cannedList.appendChild(el("li", {
          className: "canned-item" + (index === 0 ? " active" : ""), role: "option",
          data: { id: entry.id }, on: { mousedown: function (event) { event.preventDefault(); chooseCanned(entry); } }
        }, [el("strong", { text: entry.title }),
            el("span", { className: "muted small", text: entry.texts[language] })]));
      });
      if (!shown.length) cannedList.appendChild(el("li", { className: "muted pad small", text: "No canned response matches." }));
    }
    function openCanned() {
      if (!state.selected) return;
      var ready = state.canned ? Promise.resolve() : api("GET", "/console/canned").then(function (result) {
        state.canned = result.data.responses;
      });
      ready.then(function () {
        cannedLanguage.value = cannedLanguageFor(state.detail);
        cannedSearch.value = "";
        cannedBox.hidden = false;
        renderCanned();
        cannedSearch.focus();
      }).catch(fail);
    }
    function closeCanned() { cannedBox.hidden = true; }
    function chooseCanned(entry) {
      var text = fillVariables(entry.texts[cannedLanguage.value], cannedLanguage.value);
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
      items.forEach(function (item) { item.classList.remove("active"); });
      var next = items[(index + step + items.length) % items.length];
      next.classList.add("active");
      next.scrollIntoView({ block: "nearest" });
    }
    document.getElementById("canned-open").addEventListener("click", function () {
      if (cannedBox.hidden) openCanned(); else closeCanned();
    });
    cannedSearch.addEventListener("input", renderCanned);
    cannedLanguage.addEventListener("change", renderCanned);
    cannedSearch.addEventListener("keydown", function (event) {
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
        if (result.status === 204) { toast("Nothing waiting for you right now."); return; }
        upsert(result.data, false);
        toast("Assigned #" + result.data.id + " to you");
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
    // -- typing, both ways (web chat): the resident's shows above the composer for a few
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
      if (state.mode !== "reply" || !state.detail || state.detail.channel !== "webchat"
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
      "sla.updated": function (data) {
        if (me.role === "supervisor" || me.role === "admin") {
          var known = state.byId[data.conversation_id] || (state.detail && state.detail.id === data.conversation_id ? state.detail : null);
          toast((data.state === "breached" ? "SLA breached" : "SLA at risk") + ": #" + data.conversation_id
                + (known ? " " + contactName(known.contact) : "")
                + " (" + (data.clock === "resolution" ? "resolution" : "first response") + ")",
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
      onresync: function () {
        loadList(false);
        if (state.selected) refreshDetail(false);
      }
    });

    // Waiting times and SLA colours move with the clock.
    setInterval(function () {
      renderList();
      if (state.detail) renderHeader(state.detail);
    }, 30000);

    Promise.all([loadChannels(), loadQueues(), loadAgents()]).then(function () { return loadList(false); });
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
      button.title = "Sound on new conversations (" + (on ? "on" : "off") + ")";
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
    if (page === "console") consolePage();
    else if (document.getElementById("presence")) window.CC.presence = setupPresence();
  }
})();
