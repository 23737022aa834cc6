/* The supervisors' wall-board: every queue's waiting count, longest wait and staffing, and each
   agent's presence and load. Reads GET /api/v1/wallboard (falls back to GET /api/v1/queues when
   the API has no wall-board); refreshes on every live event and every 10 s. */
(function () {
  "use strict";
  var CC = window.CC;
  var el = CC.el;
  var t = CC.t;
  var PRESENCE_LABELS = { online: t("presence.online"), away: t("presence.away"),
                          offline: t("presence.offline") };
  var KIND_WORDS = { chat: t("capacity.chat"), email: t("capacity.email") };
  var tiles = document.getElementById("queue-tiles");
  var notice = document.getElementById("board-notice");
  var extended = true;          // false once /api/v1/wallboard answered 404
  var fetchedAt = 0;            // when the figures were read; waits tick from there
  var queues = [];
  var previous = {};            // queue id -> waiting, to flag changes
  var pending = null;
  var loading = false;
  var agentsOver = 0;           // agents with more open work than their capacity

  function fmt(seconds) {
    return seconds === null || seconds === undefined ? "–" : CC.duration(seconds);
  }

  function load() {
    if (loading) { pending = pending || setTimeout(function () { pending = null; load(); }, 300); return; }
    loading = true;
    var request = extended
      ? CC.api("GET", "/api/v1/wallboard").then(function (result) { return result.data; }, function (error) {
          if (error.status !== 404) throw error;
          extended = false;
          return fallback();
        })
      : fallback();
    request.then(render).catch(function (error) {
      notice.textContent = t("board.refresh_failed", { reason: CC.errorText(error) });
      notice.hidden = false;
    }).then(function () { loading = false; });
  }

  function fallback() {
    notice.textContent = t("board.basic_only");
    notice.hidden = false;
    return CC.api("GET", "/api/v1/queues").then(function (result) {
      return { queues: result.data, agents: null };
    });
  }

  function stat(label, value, title) {
    return el("div", { title: title || label }, [el("dt", { text: label }), el("dd", { text: value })]);
  }

  function tile(queue) {
    var waitS = queue.waiting ? queue.longest_wait_s + (Date.now() - fetchedAt) / 1000 : 0;
    var alert = (queue.breached_today || 0) > 0 || (queue.waiting > 0 && queue.agents_online === 0);
    var warn = (queue.at_risk || 0) > 0 || waitS > 15 * 60;
    var changed = previous[queue.id] !== undefined && previous[queue.id] !== queue.waiting;
    var node = el("article", {
      className: "tile" + (alert ? " alert" : warn ? " warn" : "") + (changed ? " changed" : ""),
      data: { queue: queue.id }
    }, [
      el("div", {}, [el("h3", { text: CC.queueLabel(queue) }),
                     el("span", { className: "tile-kind", text: queue.kind === "mailbox" ? t("board.kind_mailbox") : t("board.kind_operators") }),
                     // Colour alone does not say why a tile is amber: the badge does.
                     (queue.at_risk || 0) > 0
                       ? el("span", { className: "chip chip-risk", data: { role: "sla-risk" }, title: t("board.sla_at_risk_title"),
                                      text: t("board.sla_at_risk", { count: CC.number(queue.at_risk) }) })
                       : null]),
      el("div", { className: "tile-main" }, [
        el("div", { className: "tile-figure tile-waiting" }, [
          el("span", { className: "value", text: CC.number(queue.waiting), data: { role: "waiting" } }),
          el("span", { className: "label", text: t("board.tile_waiting") })]),
        el("div", { className: "tile-figure" }, [
          el("span", { className: "value", text: queue.waiting ? fmt(waitS) : "–", data: { role: "longest" } }),
          el("span", { className: "label", text: t("board.tile_longest_wait") })]),
        el("div", { className: "tile-figure" }, [
          el("span", { className: "value", text: CC.number(queue.agents_online) }),
          el("span", { className: "label", text: t("board.tile_agents_online") })])
      ]),
      extended ? el("dl", { className: "tile-stats" }, [
        stat(t("board.busy"), CC.number(queue.agents_busy), t("board.busy_title")),
        stat(t("board.away"), CC.number(queue.agents_away)),
        stat(t("board.in_progress"), CC.number(queue.in_progress), t("board.in_progress_title")),
        stat(t("board.at_risk"), CC.number(queue.at_risk), t("board.at_risk_title")),
        stat(t("board.breached_today"), CC.number(queue.breached_today)),
        stat(t("board.reply_p50_p90"), fmt(queue.first_response_p50_s) + " / " + fmt(queue.first_response_p90_s),
             t("board.reply_p50_p90_title"))
      ]) : null
    ]);
    previous[queue.id] = queue.waiting;
    return node;
  }

  function loadCell(agent) {
    var capacity = agent.capacity || {};
    var byKind = agent.load_by_kind || {};
    var kinds = Object.keys(capacity);
    var ratio = 0;
    var parts = kinds.map(function (kind) {
      var used = byKind[kind] || 0;
      ratio = Math.max(ratio, capacity[kind] ? used / capacity[kind] : 0);
      return CC.labelOf(KIND_WORDS, kind) + " " + used + "/" + capacity[kind];
    });
    if (!kinds.length) parts = [String(agent.load)];
    var bar = el("span", { className: "load-bar" + (ratio >= 1 ? " full" : ""), title: t("board.capacity_share", { percent: Math.round(ratio * 100) }) },
                 [el("span")]);
    bar.firstChild.style.width = Math.min(100, Math.round(ratio * 100)) + "%";
    return el("td", {}, [bar, el("span", { className: "small", text: parts.join(" · ") })]);
  }

  /* Away reasons as the page's top bar names them (config away_reasons, this language). */
  var REASONS = {};
  document.querySelectorAll("#away-reason option[value]").forEach(function (option) {
    if (option.value) REASONS[option.value] = option.textContent;
  });
  function presenceCell(agent) {
    var label = CC.labelOf(PRESENCE_LABELS, agent.presence);
    if (agent.presence === "away" && agent.presence_reason) {
      label = t("board.away_for", { reason: REASONS[agent.presence_reason] || agent.presence_reason });
    }
    var parts = [el("span", { className: "presence-dot presence-" + agent.presence, text: label })];
    if (agent.presence_since) {
      parts.push(el("span", { className: "small muted", text: " · " + CC.duration(CC.since(agent.presence_since)) }));
    }
    return el("td", {}, parts);
  }
  /* Time today in each state, and away per reason. */
  function todayCell(agent) {
    var today = agent.today || { seconds: {}, away_by_reason: {} };
    var seconds = today.seconds || {};
    var away = Object.keys(today.away_by_reason || {}).map(function (reason) {
      return (reason ? (REASONS[reason] || reason) : t("board.no_reason")) + " " + CC.duration(today.away_by_reason[reason]);
    });
    return el("td", { className: "small" }, [
      t("board.today_online", { duration: CC.duration(seconds.online || 0) }),
      el("br"),
      t("board.today_away", { duration: CC.duration(seconds.away || 0) }) + (away.length ? " (" + away.join(", ") + ")" : "")
    ]);
  }

  function renderAgents(agents) {
    var section = document.getElementById("board-agents");
    var rows = document.getElementById("agent-rows");
    if (!agents) { section.hidden = true; return; }
    section.hidden = false;
    rows.textContent = "";
    var order = { online: 0, away: 1, offline: 2 };
    agents.slice().sort(function (a, b) {
      return (order[a.presence] - order[b.presence]) || a.name.localeCompare(b.name);
    }).forEach(function (agent) {
      var over = (agent.over_capacity || []).length > 0;
      rows.appendChild(el("tr", { data: { agent: agent.id }, className: over ? "over-capacity" : null }, [
        el("td", {}, [agent.name, over ? el("span", { className: "chip chip-full", text: t("board.over_capacity") }) : null]),
        presenceCell(agent),
        loadCell(agent),
        todayCell(agent),
        el("td", { className: "num", text: CC.number(agent.handled_today || 0) })
      ]));
    });
  }

  function renderTotals() {
    var sum = function (key) { return queues.reduce(function (n, q) { return n + (q[key] || 0); }, 0); };
    var elapsed = (Date.now() - fetchedAt) / 1000;
    var longest = queues.reduce(function (m, q) { return q.waiting ? Math.max(m, q.longest_wait_s + elapsed) : m; }, 0);
    document.getElementById("total-waiting").textContent = CC.number(sum("waiting"));
    document.getElementById("total-longest").textContent = longest ? fmt(longest) : "–";
    document.getElementById("total-online").textContent = CC.number(sum("agents_online"));
    document.querySelectorAll("[data-extended]").forEach(function (node) { node.hidden = !extended; });
    var over = document.getElementById("total-over-capacity");
    over.textContent = CC.number(agentsOver);
    over.closest(".total").classList.toggle("alert", agentsOver > 0);
    if (extended) {
      document.getElementById("total-progress").textContent = CC.number(sum("in_progress"));
      document.getElementById("total-risk").textContent = CC.number(sum("at_risk"));
      document.getElementById("total-breached").textContent = CC.number(sum("breached_today"));
    }
  }

  function render(board) {
    if (extended) notice.hidden = true;
    queues = board.queues;
    agentsOver = (board.agents || []).filter(function (a) { return (a.over_capacity || []).length > 0; }).length;
    fetchedAt = Date.now();
    tiles.textContent = "";
    queues.forEach(function (queue) { tiles.appendChild(tile(queue)); });
    renderTotals();
    renderAgents(board.agents);
    document.getElementById("board-updated").textContent =
      t("board.updated", { time: CC.timeWithSeconds(new Date()) });
  }

  // Waits grow every second between refreshes.
  setInterval(function () {
    var elapsed = (Date.now() - fetchedAt) / 1000;
    queues.forEach(function (queue) {
      var cell = tiles.querySelector('[data-queue="' + queue.id + '"] [data-role="longest"]');
      if (cell && queue.waiting) cell.textContent = fmt(queue.longest_wait_s + elapsed);
    });
    if (queues.length) renderTotals();
  }, 1000);

  var handlers = { onresync: load };
  ["conversation.created", "conversation.updated", "message.created", "message.updated",
   "queue.updated", "agent.updated", "sla.updated"].forEach(function (type) { handlers[type] = load; });
  CC.live(handlers);
  setInterval(load, 10000);
  load();
})();
