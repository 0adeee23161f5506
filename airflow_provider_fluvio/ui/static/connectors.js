// The Connectors pages: everything on them comes from the JSON API (api/...) and is refreshed by
// polling it. Text goes into the page as text (never as HTML). Writes carry a short-lived bearer
// token of the signed-in user (api/token), never just the cookie.
(() => {
  "use strict";

  const DATA = document.body.dataset;
  const LIST_EVERY_MS = 5000; // the list of connectors
  const STATUS_EVERY_MS = 2000; // a connector's status and its log
  const RECORDS_EVERY_MS = 5000; // a connector's newest records
  const PLOT_WINDOW_MS = 5 * 60 * 1000; // the throughput plot shows the last five minutes
  const RATE_WINDOW_MS = 10 * 1000; // a rate is measured over at least this long
  const HISTORY = 50; // status changes kept on a connector's page
  const main = document.getElementById("main");
  const banner = document.getElementById("banner");
  let stopped = false;

  // ------------------------------------------------------------------------------------- helpers

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const svgNs = "http://www.w3.org/2000/svg";
  function svg(tag, attributes, ...children) {
    const node = document.createElementNS(svgNs, tag);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    for (const child of children.flat()) if (child) node.append(child instanceof Node ? child : String(child));
    return node;
  }

  function connectorHref(conn, name) {
    return `connectors/${encodeURIComponent(name)}?conn=${encodeURIComponent(conn)}`;
  }

  function showBanner(message) {
    banner.textContent = "";
    banner.append(message);
    banner.hidden = false;
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : JSON.stringify(detail));
      this.status = status;
    }
  }

  async function request(path, options) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store", ...options });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      if (response.status === 401 && !(options && options.headers && options.headers.Authorization)) signedOut();
      throw new ApiError(response.status, (body && body.detail) || response.statusText);
    }
    return body;
  }

  function get(path) {
    return request(path, { headers: { Accept: "application/json" } });
  }

  function signedOut() {
    stopped = true;
    showBanner(el("span", {}, "Your Airflow session has ended. ",
      el("a", { href: "../", target: "_top", text: "Sign in again" }), " and reload this page."));
  }

  // A bearer token of the signed-in user for writes (asked again when it expires or is refused).
  let token = null;
  async function writeToken(fresh) {
    if (fresh || !token || Date.now() > token.until) {
      const answer = await request("api/token", { headers: { Accept: "application/json", [DATA.pageHeader]: "1" } });
      token = { value: answer.token, until: Date.now() + (answer.expires_in - 30) * 1000 };
    }
    return token.value;
  }

  async function write(method, path, body) {
    for (const fresh of [false, true]) {
      const headers = { Accept: "application/json", Authorization: `Bearer ${await writeToken(fresh)}` };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      try {
        return await request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (error) {
        if (!(error instanceof ApiError && error.status === 401) || fresh) throw error;
      }
    }
    throw new Error("unreachable");
  }

  // Polls ``action`` every ``everyMs`` while the page is visible; a failure is shown by ``onError``.
  function every(everyMs, action, onError) {
    let timer = null;
    const run = async () => {
      timer = null;
      if (stopped) return;
      if (!document.hidden) {
        try {
          await action();
          if (onError) onError(null);
        } catch (error) {
          if (onError) onError(error);
        }
      }
      if (!stopped) timer = setTimeout(run, everyMs);
    };
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && timer !== null) {
        clearTimeout(timer);
        run();
      }
    });
    return run();
  }

  function refreshed() {
    document.getElementById("refreshed").textContent = `refreshed ${new Date().toLocaleTimeString()}`;
  }

  // ------------------------------------------------------------------------------- formatting

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "";
    const s = Math.max(0, Math.floor(seconds));
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
  }

  function age(row, now) {
    if (!row.started_at) return "";
    return duration((Date.parse(now) - Date.parse(row.started_at)) / 1000);
  }

  function number(value) {
    return value === null || value === undefined ? "" : Number(value).toLocaleString();
  }

  function rateText(rate) {
    if (rate === null || rate === undefined) return "";
    return `${rate < 10 ? rate.toFixed(1) : Math.round(rate).toLocaleString()}/s`;
  }

  function statusBadge(row) {
    return el("span", { class: `status status-${String(row.status).toLowerCase()}`, text: row.status });
  }

  // What a connector has moved: a source's records in its topic, a sink's records delivered.
  function counted(row) {
    return row.records;
  }

  // ---------------------------------------------------------------------------------- samples

  // Values of a counter over time; ``rate()`` per second over at least RATE_WINDOW_MS.
  class Sampler {
    constructor() {
      this.points = [];
    }

    add(time, value) {
      if (value === null || value === undefined) return;
      const last = this.points[this.points.length - 1];
      if (last && value < last.v) this.points = []; // a counter that went back: start over
      if (last && time <= last.t) return;
      this.points.push({ t: time, v: value });
      while (this.points.length > 2 && time - this.points[0].t > PLOT_WINDOW_MS + RATE_WINDOW_MS) this.points.shift();
    }

    rateAt(index) {
      const end = this.points[index];
      for (let i = index - 1; i >= 0; i--) {
        if (end.t - this.points[i].t >= RATE_WINDOW_MS) return (end.v - this.points[i].v) / ((end.t - this.points[i].t) / 1000);
      }
      return null;
    }

    rate() {
      return this.points.length ? this.rateAt(this.points.length - 1) : null;
    }

    rates() {
      const out = [];
      for (let i = 0; i < this.points.length; i++) {
        const r = this.rateAt(i);
        if (r !== null) out.push({ t: this.points[i].t, v: r });
      }
      return out;
    }
  }

  function niceCeiling(value) {
    if (value <= 1) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  // A line plot of ``points`` ({t, v}) over the last PLOT_WINDOW_MS before ``now``.
  function plot(points, now, unit) {
    const width = 640, height = 170, left = 48, right = 12, top = 10, bottom = 24;
    const shown = points.filter((p) => now - p.t <= PLOT_WINDOW_MS);
    const top_ = niceCeiling(Math.max(0, ...shown.map((p) => p.v)));
    const x = (t) => left + ((t - (now - PLOT_WINDOW_MS)) / PLOT_WINDOW_MS) * (width - left - right);
    const y = (v) => top + (1 - v / top_) * (height - top - bottom);
    const grid = [];
    for (const v of [0, top_ / 2, top_]) {
      grid.push(svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" }));
      grid.push(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, `${+v.toFixed(2)}`));
    }
    for (let minutes = 5; minutes >= 0; minutes--) {
      const t = now - minutes * 60000;
      grid.push(svg("text", { x: x(t), y: height - 6, "text-anchor": "middle", class: "axis" }, minutes ? `-${minutes}m` : "now"));
    }
    const line = shown.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ");
    const last = shown[shown.length - 1];
    return svg("svg", {
      viewBox: `0 0 ${width} ${height}`, class: "plot", role: "img",
      "aria-label": `${unit} over the last 5 minutes` + (last ? `; now ${last.v.toFixed(2)}` : "; no data yet"),
      "data-last": last ? last.v : "", "data-points": shown.length,
    }, grid, shown.length ? svg("polyline", { points: line, class: "series" }) : null,
    last ? svg("circle", { cx: x(last.t).toFixed(1), cy: y(last.v).toFixed(1), r: 3, class: "point" }) : null,
    svg("text", { x: left + 4, y: top + 12, class: "unit" }, unit));
  }

  // ------------------------------------------------------------------------------ the list page

  async function listPage() {
    document.getElementById("crumb").textContent = "";
    const answer = await get("api/connections");
    main.textContent = "";
    main.append(el("h1", { text: "Connectors" }));
    if (!answer.connections.length) {
      main.append(el("p", { class: "muted", text: "There is no fluvio connection you may read." }));
      return;
    }
    const samplers = new Map();
    for (const connection of answer.connections) main.append(connectionSection(connection, samplers));
  }

  const COLUMNS = ["Name", "Type", "Direction", "Status", "Replicas", "Restarts", "Records", "Rate", "Lag", "Age"];

  function connectionSection(connection, samplers) {
    const where = el("p", { class: "muted where" });
    const error = el("p", { class: "error", role: "alert", hidden: true });
    const tbody = el("tbody");
    const create = el("button", {
      type: "button", class: "primary", disabled: !connection.can_edit,
      title: connection.can_edit ? "Create a connector from its YAML config" : `You need edit access to the connection ${connection.id} to create connectors`,
      onclick: () => openCreate(connection),
    }, "Create connector");
    const section = el("section", { class: "connection", "data-conn": connection.id, "aria-label": `Connection ${connection.id}` },
      el("div", { class: "section-head" }, el("h2", {}, "Connection ", el("code", { text: connection.id })), create),
      where, error,
      el("table", { class: "connectors" }, el("thead", {}, el("tr", {}, COLUMNS.map((c) => el("th", { scope: "col", text: c })))), tbody));
    every(LIST_EVERY_MS, async () => {
      const data = await get(`api/connectors?conn=${encodeURIComponent(connection.id)}`);
      where.textContent = `${data.where}`;
      const now = Date.parse(data.now);
      tbody.textContent = "";
      if (!data.connectors.length) {
        tbody.append(el("tr", {}, el("td", { colspan: COLUMNS.length, class: "muted", text: "No connectors." })));
      }
      for (const row of data.connectors) {
        const key = `${connection.id}/${row.name}`;
        if (!samplers.has(key)) samplers.set(key, new Sampler());
        const sampler = samplers.get(key);
        sampler.add(now, counted(row));
        tbody.append(listRow(connection.id, row, data.now, sampler.rate()));
      }
      refreshed();
    }, (failure) => {
      error.hidden = !failure;
      error.textContent = failure ? failure.message : "";
    });
    return section;
  }

  function listRow(conn, row, now, rate) {
    const replicas = row.replicas > 1 ? `${row.replicas_running}/${row.replicas}` : "1";
    return el("tr", { "data-name": row.name },
      el("th", { scope: "row" }, el("a", { href: connectorHref(conn, row.name), text: row.name })),
      el("td", { text: row.type }),
      el("td", { text: row.direction || "" }),
      el("td", {}, statusBadge(row), row.reason ? el("div", { class: "reason", text: row.reason }) : null),
      el("td", { class: "num", text: replicas }),
      el("td", { class: "num", text: number(row.restarts) }),
      el("td", { class: "num", text: number(counted(row)) }),
      el("td", { class: "num rate", text: rateText(rate) }),
      el("td", { class: "num", text: row.direction === "sink" ? number(row.lag) : "" }),
      el("td", { class: "num", text: age(row, now) }));
  }

  // --------------------------------------------------------------------------- create dialog

  function openCreate(connection) {
    const maxBytes = Number(DATA.maxConfig);
    const config = el("textarea", { id: "config", rows: 16, spellcheck: "false", "aria-describedby": "config-error",
      placeholder: "version: latest\nname: my-test-connector\ntype: test-connector\ntopic: my-test-connector\ncreate_topic: true\nparameters:\n  timeout: 1000" });
    const configError = el("p", { id: "config-error", class: "error field-error", role: "alert" });
    const file = el("input", { type: "file", id: "config-file", accept: ".yaml,.yml,text/yaml,text/plain" });
    file.addEventListener("change", () => {
      const chosen = file.files && file.files[0];
      if (!chosen) return;
      if (chosen.size > maxBytes) {
        configError.textContent = `${chosen.name}: larger than ${DATA.maxConfigText}; expected a YAML config of at most ${DATA.maxConfigText}`;
        return;
      }
      chosen.text().then((text) => { config.value = text; configError.textContent = ""; });
    });
    const secretRows = el("div", { class: "secrets" });
    const secretsError = el("p", { class: "error field-error", role: "alert" });
    const addSecret = () => secretRows.append(el("div", { class: "secret" },
      el("input", { type: "text", placeholder: "NAME (e.g. MQTT_PASSWORD)", "aria-label": "Secret name", autocomplete: "off" }),
      el("input", { type: "password", placeholder: "value", "aria-label": "Secret value", autocomplete: "new-password" })));
    const replicas = el("input", { type: "number", id: "replicas", min: 1, max: 16, value: 1 });
    const replicasError = el("p", { class: "error field-error", role: "alert" });
    const outcome = el("p", { class: "outcome", role: "status" });
    const validate = el("button", { type: "button", onclick: () => submit(true) }, "Validate");
    const create = el("button", { type: "button", class: "primary", onclick: () => submit(false) }, "Create");
    const cancel = el("button", { type: "button", onclick: () => dialog.remove() }, "Cancel");
    const dialog = el("div", { class: "overlay" }, el("div", { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "create-title" },
      el("h2", { id: "create-title" }, "Create a connector on ", el("code", { text: connection.id })),
      el("label", { for: "config" }, "Config (YAML)"), config, configError,
      el("div", { class: "row" }, el("label", { for: "config-file" }, "or load a file"), file),
      el("fieldset", {}, el("legend", { text: "Secrets the config names (sent once, never shown again)" }), secretRows,
        el("button", { type: "button", class: "small", onclick: addSecret }, "Add a secret"), secretsError),
      el("div", { class: "row" }, el("label", { for: "replicas" }, "Replicas"), replicas), replicasError,
      outcome, el("div", { class: "actions" }, cancel, validate, create)));

    function secrets() {
      const out = {};
      for (const row of secretRows.querySelectorAll(".secret")) {
        const [name, value] = row.querySelectorAll("input");
        if (name.value.trim()) out[name.value.trim()] = value.value;
      }
      return out;
    }

    async function submit(dryRun) {
      for (const node of [configError, secretsError, replicasError]) node.textContent = "";
      outcome.textContent = dryRun ? "Validating..." : "Creating...";
      validate.disabled = create.disabled = true;
      try {
        const body = { config: config.value, secrets: secrets(), replicas: Number(replicas.value || 1), dry_run: dryRun };
        const answer = await write("POST", `api/connectors?conn=${encodeURIComponent(connection.id)}`, body);
        if (dryRun) {
          outcome.textContent = `Valid: connector ${answer.name} (${answer.type}).`;
        } else {
          outcome.textContent = `Created ${answer.connector.name}.`;
          window.location.href = connectorHref(connection.id, answer.connector.name);
        }
      } catch (error) {
        outcome.textContent = "";
        const message = error.message;
        const field = message.startsWith("secrets") ? secretsError : message.startsWith("replicas") ? replicasError : configError;
        field.textContent = message;
      } finally {
        validate.disabled = create.disabled = false;
      }
    }

    closeOnEscape(dialog, () => dialog.remove());
    document.body.append(dialog);
    config.focus();
  }

  function closeOnEscape(dialog, close) {
    dialog.addEventListener("keydown", (event) => {
      if (event.key === "Escape") close();
    });
  }

  function confirmDialog(title, text, action) {
    return new Promise((resolve) => {
      const close = (value) => { dialog.remove(); resolve(value); };
      const dialog = el("div", { class: "overlay" }, el("div", { class: "dialog", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "confirm-title" },
        el("h2", { id: "confirm-title", text: title }), el("p", { text }),
        el("div", { class: "actions" },
          el("button", { type: "button", onclick: () => close(false) }, "Cancel"),
          el("button", { type: "button", class: "danger", onclick: () => close(true) }, action))));
      closeOnEscape(dialog, () => close(false));
      document.body.append(dialog);
      dialog.querySelector("button").focus();
    });
  }

  // ------------------------------------------------------------------------- a connector's page

  async function connectorPage() {
    const conn = DATA.conn, name = DATA.name;
    const query = `conn=${encodeURIComponent(conn)}`;
    const base = `api/connectors/${encodeURIComponent(name)}`;
    document.getElementById("crumb").append(" / ", el("code", { text: conn }), " / ", el("strong", { text: name }));
    const connections = await get("api/connections");
    const canEdit = connections.connections.some((c) => c.id === conn && c.can_edit);

    const heading = el("h1", {}, name, " ");
    const badge = el("span", { class: "status", hidden: true });
    heading.append(badge);
    const reason = el("p", { class: "reason" });
    const error = el("p", { class: "error", role: "alert", hidden: true });
    const remove = el("button", {
      type: "button", class: "danger", disabled: !canEdit,
      title: canEdit ? "Stop this connector and remove it (its topic and records stay)" : `You need edit access to the connection ${conn} to delete connectors`,
      onclick: async () => {
        const topic = facts.dataset.topic || "its topic";
        if (!(await confirmDialog(`Delete connector ${name}?`, `It stops and its runtime objects are removed; ${topic} and its records stay.`, "Delete"))) return;
        try {
          await write("DELETE", `${base}?${query}`);
          window.location.href = "connectors";
        } catch (failure) {
          error.hidden = false;
          error.textContent = failure.message;
        }
      },
    }, "Delete");
    const facts = el("dl", { class: "facts" });
    const rateNow = el("span", { class: "rate-now", "aria-live": "polite" });
    const plotBox = el("div", { class: "plot-box" });
    const lagBox = el("div", { class: "plot-box", hidden: true });
    const history = el("ol", { class: "history" });
    const config = el("pre", { class: "config" }, "...");
    const logs = el("pre", { class: "logs", tabindex: 0, "aria-label": "Connector log" }, "...");
    const logsError = el("p", { class: "error", role: "alert", hidden: true });
    const records = el("tbody");
    const recordsNote = el("p", { class: "muted" });

    main.textContent = "";
    main.append(
      el("div", { class: "section-head" }, heading, remove), reason, error, facts,
      el("section", { "aria-label": "Throughput" }, el("h2", {}, "Throughput ", rateNow), plotBox, lagBox),
      el("div", { class: "columns" },
        el("section", { "aria-label": "Status history" }, el("h2", { text: "Status history" }), history),
        el("section", { "aria-label": "Config" }, el("h2", { text: "Config" }), config)),
      el("section", { "aria-label": "Logs" }, el("h2", { text: "Log (following)" }), logsError, logs),
      el("section", { "aria-label": "Newest records" }, el("h2", { text: "Newest records" }), recordsNote,
        el("table", { class: "records" }, el("thead", {}, el("tr", {}, ["Offset", "Time", "Key", "Value"].map((c) => el("th", { scope: "col", text: c })))), records)));

    const counter = new Sampler(), lag = new Sampler();
    let unit = "records/s";
    const seen = [];
    let configShown = false;

    every(STATUS_EVERY_MS, async () => {
      const data = await get(`${base}?${query}${configShown ? "" : "&config=true"}`);
      const row = data.connector, now = Date.parse(data.now);
      remove.disabled = !canEdit;
      badge.hidden = false;
      badge.className = `status status-${row.status.toLowerCase()}`;
      badge.textContent = row.status;
      reason.textContent = row.reason || "";
      if (!configShown) {
        config.textContent = data.config || "(this runtime does not show configs)";
        configShown = true;
      }
      // The connector's own count where its runtime reports one, else how fast its topic grows
      // (Kubernetes pods and replicas report no count of their own).
      const fromTopic = row.direction !== "sink" && (data.runtime !== "local" || row.replicas > 1);
      counter.add(now, fromTopic ? data.topic_end : counted(row));
      unit = fromTopic ? "records/s (topic growth)" : "records/s";
      if (row.lag !== undefined && row.lag !== null) lag.add(now, row.lag);
      const rate = counter.rate();
      rateNow.textContent = rate === null ? "(measuring...)" : `${rateText(rate).replace("/s", "")} records/s`;
      rateNow.dataset.rate = rate === null ? "" : String(rate);
      plotBox.replaceChildren(plot(counter.rates(), now, unit));
      if (lag.points.length) {
        lagBox.hidden = false;
        lagBox.replaceChildren(plot(lag.points, now, "lag (records)"));
      }
      facts.dataset.topic = `topic ${row.topic}`;
      facts.replaceChildren(...factList(row, data, now));
      const last = seen[seen.length - 1];
      if (!last || last.status !== row.status || last.reason !== (row.reason || "")) {
        seen.push({ t: now, status: row.status, reason: row.reason || "" });
        if (seen.length > HISTORY) seen.shift();
        history.replaceChildren(...seen.slice().reverse().map((entry) => el("li", {},
          el("time", { datetime: new Date(entry.t).toISOString(), text: new Date(entry.t).toLocaleTimeString() }), " ",
          statusBadge(entry), entry.reason ? el("span", { class: "reason", text: ` ${entry.reason}` }) : null)));
      }
      refreshed();
    }, (failure) => {
      const missing = Boolean(failure && failure.status === 404); // deleted, or never created
      if (missing) {
        badge.hidden = false;
        badge.className = "status";
        badge.textContent = "not found";
        remove.disabled = true;
      }
      error.hidden = !failure;
      error.textContent = !failure ? "" : missing
        ? `Connector ${name} does not exist on ${conn}: it has been deleted (its topic and records stay) or was never created.`
        : failure.message;
    });

    every(STATUS_EVERY_MS, async () => {
      const data = await get(`${base}/logs?${query}&tail=${DATA.logLines}`);
      const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 8;
      logs.textContent = data.lines.length ? data.lines.join("\n") : "(no log lines yet)";
      if (atBottom) logs.scrollTop = logs.scrollHeight;
    }, (failure) => {
      if (failure && failure.status === 404) {
        logs.textContent = "(no log: the connector does not exist)";
        failure = null;
      }
      logsError.hidden = !failure;
      logsError.textContent = failure ? failure.message : "";
    });

    every(RECORDS_EVERY_MS, async () => {
      const data = await get(`${base}/records?${query}`);
      recordsNote.textContent = data.exists ? `topic ${data.topic}: ${number(data.end)} records; the newest ${data.records.length} of them`
        : `topic ${data.topic} does not exist`;
      records.replaceChildren(...data.records.slice().reverse().map((r) => el("tr", {},
        el("td", { class: "num", text: r.offset }),
        el("td", { text: r.timestamp ? new Date(r.timestamp).toLocaleTimeString() : "" }),
        el("td", {}, r.key ? shownValue(r.key) : ""),
        el("td", {}, shownValue(r.value, r.size)))));
    }, (failure) => {
      if (failure) recordsNote.textContent = failure.status === 404 ? "(no topic to show: the connector does not exist)" : failure.message;
    });
  }

  function shownValue(value, size) {
    const note = [value.binary ? "binary, hex" : null, value.truncated ? `first 1 KiB of ${number(size)} bytes` : null].filter(Boolean);
    return el("span", { class: value.binary ? "binary" : "" }, value.text, note.length ? el("span", { class: "muted", text: ` (${note.join("; ")})` }) : null);
  }

  function factList(row, data, now) {
    const items = [
      ["Type", row.type], ["Direction", row.direction], ["Topic", row.topic], ["Runtime", `${data.runtime}: ${data.where}`],
      ["Version", row.version],
      ["Replicas", row.replicas > 1 ? `${row.replicas_running} of ${row.replicas} running` : "1"],
      ["Restarts", number(row.restarts)],
      [row.direction === "sink" ? "Records delivered" : "Records stored", number(counted(row))],
      ["Topic end offset", number(data.topic_end)],
      ["Lag", row.direction === "sink" ? number(row.lag) : null],
      ["Last error", row.last_error && row.last_error !== row.reason ? row.last_error : null],
      ["Started", row.started_at ? `${new Date(row.started_at).toLocaleString()} (${age(row, data.now)} ago)` : null],
      ["Pending since", row.pending_since ? `${new Date(row.pending_since).toLocaleString()} (${duration((now - Date.parse(row.pending_since)) / 1000)})` : null],
    ];
    for (const replica of row.replica_statuses || []) {
      items.push([`Replica ${replica.name}`, `${replica.status}${replica.reason ? `: ${replica.reason}` : ""}; ${replica.restarts} restarts`]);
    }
    return items.filter(([, value]) => value !== null && value !== undefined && value !== "")
      .flatMap(([term, value]) => [el("dt", { text: term }), el("dd", { text: value })]);
  }

  // ------------------------------------------------------------------------------------ start

  const start = DATA.page === "connector" ? connectorPage : listPage;
  start().catch((error) => {
    main.textContent = "";
    main.append(el("p", { class: "error", role: "alert", text: error.message }));
  });
})();
