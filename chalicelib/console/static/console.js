// The Chorus console: one page, no build step. The admin token lives in this closure only
// (never a cookie or storage) and goes out as the bearer header; every value from the API is
// put into the page as text (textContent), never as HTML.
"use strict";
(function () {
  const base = location.pathname.slice(0, location.pathname.lastIndexOf("/console"));
  let token = null;
  let flash = ""; // a message shown on the next page drawn (after an action redraws it)
  const $ = (id) => document.getElementById(id);

  // ---- helpers ------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && (body.message || body.Message)) || "HTTP " + status);
      this.status = status;
    }
  }

  async function api(path, options = {}) {
    const headers = { Authorization: "Bearer " + token };
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(base + path, { method: options.method || "GET", headers, body: options.body, credentials: "omit", cache: "no-store" });
    if (options.raw) {
      if (!response.ok) throw new ApiError(response.status, null);
      return response;
    }
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (e) { body = { message: text }; }
    if (response.status === 401) { signOut("The token was refused: sign in again."); throw new ApiError(401, body); }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  const q = (params) => {
    const s = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") s.set(k, v);
    const text = s.toString();
    return text ? "?" + text : "";
  };
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
  const link = (href, text) => h("a", { href }, text);
  const badge = (status) => h("span", { class: "badge " + status }, status);

  function table(columns, rows, caption) {
    return h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.length ? rows.map((r) => h("tr", {}, r.map((cell) => h("td", {}, cell))))
        : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, "Nothing here yet."))));
  }

  // A listener's health (the `listener` object of /admin/connectors): its worst feed in one cell.
  function listenerHealth(l) {
    if (!l) return "—";
    if (!l.feeds.length) return h("span", { class: "muted" }, "nothing to poll");
    const polled = l.feeds.some((f) => f.last_run_at);
    const state = l.failures
      ? h("span", { class: "badge failing" }, l.failures + (l.failures === 1 ? " failure" : " failures") + " in a row")
      : h("span", { class: "badge " + (polled ? "ok" : "queued") }, polled ? "ok" : "not polled yet");
    return h("span", { class: "listener-health" }, state, " last ok " + when(l.last_ok_at),
      l.last_error ? h("span", { class: "error last-error" }, l.last_error) : null);
  }

  function listenerFeeds(l) {
    return table(["Feed", "Last run", "Last ok", "Failures in a row", "Last error"], l.feeds.map((f) =>
      [f.feed, when(f.last_run_at), when(f.last_ok_at), String(f.failures), f.last_error || "—"]), "Listener feeds");
  }

  function failure(err) { return h("p", { class: "error", role: "alert" }, err.message || String(err)); }

  // A list that pages through the admin API's cursor: "Next page" asks for the following one.
  function pagedList(fetchPage, render) {
    const box = h("div", { class: "paged" });
    const stack = [null];
    async function show(cursor) {
      box.replaceChildren(h("p", { class: "muted" }, "Loading…"));
      try {
        const page = await fetchPage(cursor);
        const controls = h("div", { class: "pager" },
          stack.length > 1 ? h("button", { type: "button", onclick: () => { stack.pop(); show(stack[stack.length - 1]); } }, "Previous page") : null,
          page.next ? h("button", { type: "button", onclick: () => { stack.push(page.next); show(page.next); } }, "Next page") : null);
        box.replaceChildren(render(page.items), controls);
      } catch (err) { box.replaceChildren(failure(err)); }
    }
    show(null);
    return box;
  }

  async function chart(name, params, alt) {
    const img = h("img", { class: "chart", alt, "data-chart": name });
    try {
      const response = await api("/admin/charts/" + name + q(params), { raw: true });
      img.src = URL.createObjectURL(await response.blob());
    } catch (err) { return failure(err); }
    return img;
  }

  function confirmed(message) { return window.confirm(message); }

  // ---- pages --------------------------------------------------------------------------------
  const pages = {
    async overview(view) {
      view.append(h("h1", {}, "Overview"));
      const [connectors, health] = await Promise.all([
        api("/admin/connectors?limit=500"),
        fetch(base + "/health", { cache: "no-store" }).then((r) => r.json()).catch(() => null),
      ]);
      view.append(await chart("deliveries.svg", {}, "Deliveries per hour over the last 24 hours, accepted and refused"));
      if (health && health.queues) {
        view.append(table(["Queue", "Depth", "Oldest message (s)"],
          Object.entries(health.queues).map(([name, qs]) => [name, qs.depth ?? qs.error, qs.oldest_age_seconds ?? "—"]),
          "Queues (" + health.status + ")"));
      }
      const letters = await api("/admin/dead-letters?limit=500");
      const waiting = {};
      for (const d of letters.items) waiting[d.connector_id] = (waiting[d.connector_id] || 0) + 1;
      view.append(table(["Connector", "Provider", "Last delivery", "Refusals by reason", "Dead letters"],
        connectors.items.map((c) => [link("#/connectors/" + c.id, c.id), c.provider, when(c.last_delivery_at),
          Object.entries(c.errors).map(([k, v]) => k + " " + v).join(", ") || "none", String(waiting[c.id] || 0)]),
        "Connectors"));
    },

    async connectors(view, id) {
      if (id) return pages.connector(view, id);
      view.append(h("h1", {}, "Connectors"));
      view.append(pagedList((cursor) => api("/admin/connectors" + q({ limit: 50, next: cursor })), (items) =>
        table(["Connector", "Provider", "Direction", "Last delivery", "Refusals", "Listener health"], items.map((c) =>
          [link("#/connectors/" + c.id, c.id), c.provider, c.direction, when(c.last_delivery_at),
            Object.entries(c.errors).map(([k, v]) => k + " " + v).join(", ") || "none", listenerHealth(c.listener)]))));
    },

    async connector(view, id) {
      const c = await api("/admin/connectors/" + encodeURIComponent(id));
      view.append(h("h1", {}, "Connector " + c.id));
      const dl = h("dl", {}, h("dt", {}, "Provider"), h("dd", {}, c.provider), h("dt", {}, "Direction"), h("dd", {}, c.direction));
      if (c.webhook_path) {
        dl.append(h("dt", {}, "Webhook URL (paste into the provider)"), h("dd", {}, h("code", { id: "webhook-url" }, location.origin + base + c.webhook_path)));
      }
      if (c.expects) {
        dl.append(h("dt", {}, "Expects"), h("dd", {},
          "content type " + c.expects.content_types.join(" or ") + "; signature: " + c.expects.signature +
          (c.expects.signature_header ? " in " + c.expects.signature_header : "") +
          (c.expects.handshake_methods.length ? "; handshake by " + c.expects.handshake_methods.join(", ") : "")));
      }
      if (c.listener) dl.append(h("dt", {}, "Listener health"), h("dd", {}, listenerHealth(c.listener)));
      view.append(dl);
      if (c.listener) view.append(listenerFeeds(c.listener));
      if (c.webhook_path) {
        view.append(h("h2", {}, "Recent deliveries"), pagedList((cursor) =>
          api("/admin/deliveries" + q({ connector_id: id, limit: 10, next: cursor })), deliveryTable));
      }
      if (c.can_sign_test_delivery) {
        const body = h("textarea", { id: "test-body", rows: 8, "aria-label": "Body of the test delivery" }, "");
        const result = h("p", { role: "status" });
        view.append(h("h2", {}, "Send a signed test delivery"),
          h("p", {}, "Paste a sample body from the vendor's documentation; the hub signs it with this connector's secret and puts it through the whole pipeline."),
          body, h("button", { type: "button", id: "send-test", onclick: async () => {
            try {
              const answer = await api("/admin/connectors/" + encodeURIComponent(id) + "/test-delivery", { method: "POST", body: body.value });
              result.replaceChildren("HTTP " + answer.status + " — ", link("#/deliveries/" + answer.delivery_id, "delivery " + answer.delivery_id));
            } catch (err) { result.replaceChildren(failure(err)); }
          } }, "Send signed test delivery"), result);
      } else if (c.webhook_path) {
        view.append(h("p", { class: "muted" }, "Only the provider can sign deliveries for this connector; send one from the provider's side."));
      }
    },

    async deliveries(view, id) {
      if (id) return pages.delivery(view, id);
      view.append(h("h1", {}, "Deliveries"));
      const connectors = await api("/admin/connectors?limit=500");
      const connector = h("select", { id: "filter-connector", "aria-label": "Connector" }, h("option", { value: "" }, "every connector"),
        connectors.items.map((c) => h("option", { value: c.id }, c.id)), h("option", { value: "unknown" }, "unknown (no such connector)"));
      const status = h("select", { id: "filter-status", "aria-label": "Status" }, ["", "accepted", "refused", "processed", "dead_letter", "retrying", "answered", "replayed"]
        .map((s) => h("option", { value: s }, s || "every status")));
      const holder = h("div");
      const refresh = () => holder.replaceChildren(pagedList((cursor) =>
        api("/admin/deliveries" + q({ connector_id: connector.value, status: status.value, limit: 25, next: cursor })), deliveryTable));
      connector.addEventListener("change", refresh);
      status.addEventListener("change", refresh);
      view.append(h("div", { class: "filters" }, connector, status, h("button", { type: "button", onclick: refresh }, "Refresh")), holder);
      refresh();
    },

    async delivery(view, id) {
      const d = await api("/admin/deliveries/" + encodeURIComponent(id));
      view.append(h("h1", {}, "Delivery " + d.delivery_id));
      view.append(h("dl", { class: "facts" },
        h("dt", {}, "Connector"), h("dd", {}, link("#/connectors/" + d.connector_id, d.connector_id)),
        h("dt", {}, "Received"), h("dd", {}, when(d.received_at)),
        h("dt", {}, "Status"), h("dd", {}, badge(d.status), " HTTP " + d.http_status),
        h("dt", {}, "Reason"), h("dd", { id: "delivery-reason" }, d.reason || "—"),
        h("dt", {}, "Detail"), h("dd", {}, d.detail || "—"),
        h("dt", {}, "Request"), h("dd", {}, d.method + " " + d.path + " · " + d.size + " bytes · " + (d.content_type || "no content type"))));
      view.append(h("h2", {}, "Outcome"), h("ol", { class: "chain", id: "chain" }, d.chain.map((step) => h("li", {}, badge(step.status), " ", when(step.at), " ",
        step.interactions ? h("span", {}, step.interactions.length + " interaction(s): ",
          step.interactions.map((i) => link("#/people/" + i.person_id, i.interaction_id)).flatMap((a, n) => (n ? [", ", a] : [a]))) : null,
        step.sync_jobs ? " · " + step.sync_jobs + " sync job(s)" : null,
        step.skipped && step.skipped.length ? " · skipped: " + step.skipped.join(", ") : null,
        step.duplicates ? " · " + step.duplicates + " duplicate(s)" : null,
        step.dead_letter_id ? h("span", {}, " · ", link("#/dead-letters", "dead letter " + step.dead_letter_id), step.reason ? " (" + step.reason + ")" : "") : null,
        step.error ? " · " + step.error + " (attempt " + step.attempt + ")" : null))));
      view.append(h("h2", {}, "Headers (secrets redacted)"), table(["Header", "Value"], Object.entries(d.headers)));
      view.append(h("h2", {}, "Body"), d.body === null ? h("p", { class: "muted" }, "Not kept (the connector keeps no bodies, the delivery was refused, or it was about an erased person).") : h("pre", {}, d.body));
    },

    async "dead-letters"(view) {
      view.append(h("h1", {}, "Dead letters"));
      const connectors = await api("/admin/connectors?limit=500");
      const connector = h("select", { id: "dlq-connector", "aria-label": "Connector" }, h("option", { value: "" }, "every connector"), connectors.items.map((c) => h("option", { value: c.id }, c.id)));
      const note = h("p", { role: "status", id: "dlq-status" });
      const holder = h("div");
      const detail = h("div", { id: "dlq-detail" });
      const refresh = () => holder.replaceChildren(pagedList((cursor) => api("/admin/dead-letters" + q({ connector_id: connector.value, limit: 25, next: cursor })), (items) =>
        table(["Created", "Stage", "Connector", "Reason", "Attempts", "Actions"], items.map((d) => {
          const path = "/admin/dead-letters/" + encodeURIComponent(d.connector_id) + "/" + encodeURIComponent(d.dead_letter_id);
          return [when(d.created_at), d.stage, d.connector_id, d.reason, String(d.attempts), h("span", { class: "actions" },
            h("button", { type: "button", onclick: async () => { const full = await api(path); detail.replaceChildren(h("h2", {}, "Dead letter " + d.dead_letter_id), h("pre", {}, JSON.stringify(full, null, 2))); } }, "Inspect"),
            h("button", { type: "button", class: "replay", onclick: async () => { try { await api(path + "/replay", { method: "POST" }); note.textContent = "Replayed " + d.dead_letter_id + "."; refresh(); } catch (err) { note.replaceChildren(failure(err)); } } }, "Replay"),
            h("button", { type: "button", class: "danger", onclick: async () => { if (!confirmed("Discard this dead letter for good?")) return; await api(path, { method: "DELETE" }); note.textContent = "Discarded " + d.dead_letter_id + "."; refresh(); } }, "Discard"))];
        }))));
      connector.addEventListener("change", refresh);
      view.append(h("div", { class: "filters" }, connector,
        h("button", { type: "button", id: "replay-all", onclick: async () => {
          if (!connector.value) { note.textContent = "Choose a connector to replay all of its dead letters."; return; }
          const r = await api("/admin/dead-letters/replay" + q({ connector_id: connector.value }), { method: "POST" });
          note.textContent = "Replayed " + r.replayed + ", kept " + r.kept + " that cannot be replayed."; refresh();
        } }, "Replay all for this connector")), note, holder, detail);
      refresh();
    },

    async people(view, id) {
      if (id) return pages.person(view, id);
      view.append(h("h1", {}, "People and advocates"));
      const input = h("input", { id: "person-search", type: "search", placeholder: "email, x:handle or hubspot:123", "aria-label": "Email, handle (provider:handle) or identity (namespace:value)" });
      const kind = h("select", { id: "person-search-kind", "aria-label": "Search by" }, h("option", { value: "email" }, "email"), h("option", { value: "handle" }, "handle"), h("option", { value: "identity" }, "CRM or other id"));
      const results = h("div", { id: "search-results" });
      const form = h("form", { class: "filters", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const found = await api("/admin/people" + q({ [kind.value]: input.value.trim() }));
          results.replaceChildren(peopleTable(found.items));
        } catch (err) { results.replaceChildren(failure(err)); }
      } }, kind, input, h("button", { type: "submit" }, "Search"));
      view.append(form, results, h("h2", {}, "Advocates by score"),
        pagedList((cursor) => api("/admin/advocates" + q({ min_score: -100, limit: 25, next: cursor })), peopleTable));
    },

    async person(view, id) {
      const p = await api("/admin/people/" + encodeURIComponent(id));
      const name = p.display_name || p.email || Object.values(p.handles)[0] || p.person_id;
      view.append(h("h1", {}, name));
      if (p.merged_into) view.append(h("p", {}, "Merged into ", link("#/people/" + p.merged_into, p.merged_into)));
      view.append(h("p", { class: "score", id: "score" }, "Score ", h("strong", {}, p.advocate.score.toFixed(1)), " · ", badge(p.advocate.tier)));
      const ex = p.explanation || {};
      view.append(h("h2", {}, "Why this score"), table(["Component", "Points", "Weight", "Inputs", "Interactions behind it"],
        (ex.components || []).map((c) => [c.name, (c.points ?? 0).toFixed(1), String(c.weight), JSON.stringify(c.inputs || {}),
          (c.interactions || []).map((i) => i.kind + " on " + i.provider + " " + when(i.occurred_at) + (i.nps !== null && i.nps !== undefined ? " · NPS " + i.nps : "") +
            (i.sentiment ? " · " + i.sentiment.label : "") + (i.followers ? " · " + i.followers + " followers" : "")).join("; ") || "—"]), "Score components"));
      view.append(h("h2", {}, "Identities and evidence"), table(["Identity", "Confidence", "Evidence"],
        (p.links && p.links.length ? p.links : p.identities).map((l) => [l.namespace + ":" + l.value, l.confidence !== undefined ? String(l.confidence) : "—",
          (l.evidence || "—") + (l.source_connector ? " (from " + l.source_connector + ")" : "")])));
      const note = h("p", { role: "status", id: "person-status" });
      view.append(h("h2", {}, "Merge suggestions"), table(["Other person", "Confidence", "Reason", ""], (p.suggestions || []).map((s) => [link("#/people/" + s.person_id, s.person_id), String(s.confidence), s.reason,
        h("button", { type: "button", onclick: async () => { if (!confirmed("Merge " + s.person_id + " into this person?")) return; try { await api("/admin/merges", { method: "POST", body: JSON.stringify({ survivor_id: p.person_id, merged_id: s.person_id }) }); flash = "Merged " + s.person_id + " into this person."; route(); } catch (err) { note.replaceChildren(failure(err)); } } }, "Accept merge")])));
      view.append(h("h2", {}, "Merges"), table(["Merge", "Survivor", "Merged", "Status", "Reason", ""], (p.merge_records || []).map((m) => [m.merge_id, m.survivor_id, m.merged_id, m.status || "", m.reason || "",
        m.status === "undone" ? "" : h("button", { type: "button", class: "undo", onclick: async () => { if (!confirmed("Undo merge " + m.merge_id + "?")) return; try { await api("/admin/merges/" + encodeURIComponent(m.merge_id) + "/undo", { method: "POST" }); flash = "Merge " + m.merge_id + " undone."; route(); } catch (err) { note.replaceChildren(failure(err)); } } }, "Undo merge")])), note);
      view.append(h("h2", {}, "CRM sync"), table(["Sink", "CRM id", "Synced", "Skipped"], (p.sync_states || []).map((s) => [s.connector_id, s.crm_id || "—", when(s.synced_at), s.skipped_reason || "—"])));
      view.append(h("h2", {}, "Timeline"), pagedList((cursor) => api("/admin/interactions" + q({ person_id: p.person_id, limit: 25, next: cursor })), (items) =>
        table(["When", "Channel", "Kind", "Said", "Sentiment", "NPS"], items.slice().sort((a, b) => (a.occurred_at < b.occurred_at ? 1 : -1)).map((i) =>
          [when(i.occurred_at), i.provider, i.kind, i.deleted ? "(deleted)" : (i.text || "").slice(0, 140), i.sentiment ? i.sentiment.label : "—", i.nps ?? "—"]))));
      view.append(h("h2", {}, "Privacy"), h("div", { class: "actions" },
        h("button", { type: "button", onclick: async () => {
          if (!confirmed("Export everything held about this person?")) return;
          const data = await api("/admin/people/" + encodeURIComponent(p.person_id) + "/export");
          const a = h("a", { href: URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" })), download: "person-" + p.person_id + ".json" });
          document.body.append(a); a.click(); a.remove();
        } }, "Export"),
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirmed("Erase this person for good? This cannot be undone.")) return;
          const r = await api("/admin/people/" + encodeURIComponent(p.person_id), { method: "DELETE" });
          view.replaceChildren(h("h1", {}, "Erased"), h("p", {}, r.items + " item(s) and " + r.identities + " identities erased."));
        } }, "Erase")));
    },

    async pulse(view) {
      view.append(h("h1", {}, "Brand pulse"));
      const today = new Date().toISOString().slice(0, 10);
      const from = h("input", { id: "pulse-from", type: "date", "aria-label": "From" });
      const to = h("input", { id: "pulse-to", type: "date", value: today, "aria-label": "To" });
      const interval = h("select", { id: "pulse-interval", "aria-label": "Interval" }, h("option", { value: "day" }, "by day"), h("option", { value: "week" }, "by week"));
      const out = h("div", { id: "pulse-out" });
      async function show() {
        const params = { from: from.value, to: to.value, interval: interval.value };
        out.replaceChildren(h("p", { class: "muted" }, "Loading…"));
        try {
          const doc = await api("/admin/pulse" + q(params));
          const charts = await Promise.all([
            chart("pulse-talk.svg", params, "Interactions per " + doc.interval + " by channel"),
            chart("pulse-sentiment.svg", params, "Sentiment per " + doc.interval),
            chart("pulse-nps.svg", params, "NPS per " + doc.interval)]);
          const t = doc.totals;
          out.replaceChildren(h("p", { class: "muted" }, doc.from + " to " + doc.to),
            h("div", { class: "charts" }, charts),
            table(["Channel", "Interactions", "Mentions", "Positive", "Neutral", "Negative", "NPS", "Rating (of 5)", "New voices", "Returning"],
              [...Object.entries(doc.channels).map(([c, v]) => [c, v.totals]), ["all", t]].map(([c, s]) => [c, String(s.interactions), String(s.mentions), String(s.sentiment.positive), String(s.sentiment.neutral), String(s.sentiment.negative), s.nps.score === null ? "—" : String(s.nps.score), s.ratings.average_of_5 === null ? "—" : String(s.ratings.average_of_5), String(s.voices.new), String(s.voices.returning)]), "By channel"),
            h("h2", {}, "Top voices"), h("div", { class: "two" },
              voices("By reach", doc.top_voices.by_reach), voices("By advocacy", doc.top_voices.by_advocacy)));
        } catch (err) { out.replaceChildren(failure(err)); }
      }
      view.append(h("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); show(); } }, from, to, interval, h("button", { type: "submit" }, "Show")), out);
      show();
    },

    async loop(view) {
      view.append(h("h1", {}, "Closed loop"));
      const rules = await api("/admin/loop");
      view.append(table(["Rule", "Runs", "Cooldown (days)"], rules.rules.map((r) => [r.rule, r.enabled ? "yes" : "no", String(r.cooldown_days)]), "Rules"));
      view.append(h("h2", {}, "Actions taken"), pagedList((cursor) => api("/admin/actions" + q({ limit: 25, next: cursor })), (items) =>
        table(["When", "Rule", "Person", "Action", "Why"], items.map((a) => [when(a.created_at), a.rule, link("#/people/" + a.person_id, a.person_id), a.kind, a.reason]))));
    },
  };

  function deliveryTable(items) {
    return table(["Received", "Connector", "Status", "HTTP", "Reason", "Size", ""], items.map((d) =>
      [when(d.received_at), d.connector_id, badge(d.status), String(d.http_status), d.reason || "—", String(d.size), link("#/deliveries/" + d.delivery_id, "details")]));
  }

  function peopleTable(items) {
    return table(["Person", "Email", "Score", "Tier", "Interactions"], items.map((p) =>
      [link("#/people/" + p.person_id, p.display_name || Object.values(p.handles || {})[0] || p.person_id), p.email || "—", p.advocate.score.toFixed(1), badge(p.advocate.tier), String(p.stats.interaction_count)]));
  }

  function voices(title, list) {
    return h("div", {}, h("h3", {}, title), table(["Voice", "Reach", "Score", "Mentions", "Channels"], list.map((v) =>
      [link("#/people/" + v.person_id, v.display_name || Object.values(v.handles || {})[0] || v.person_id), String(v.reach), v.score.toFixed(1), String(v.mentions), v.channels.join(", ")])));
  }

  // ---- routing and sign-in ----------------------------------------------------------------------
  async function route() {
    if (!token) return;
    const [, page = "overview", id] = (location.hash || "#/overview").slice(1).split("/").map(decodeURIComponent);
    const view = $("view");
    view.replaceChildren();
    for (const a of document.querySelectorAll("#nav a")) a.toggleAttribute("aria-current", a.getAttribute("href") === "#/" + page);
    const render = pages[page] || pages.overview;
    try { await render(view, id); } catch (err) { view.append(failure(err)); }
    if (flash) { view.prepend(h("p", { role: "status", id: "flash" }, flash)); flash = ""; }
    $("main").focus({ preventScroll: true });
  }

  function signOut(message) {
    token = null;
    $("view").hidden = true;
    $("view").replaceChildren();
    $("nav").hidden = $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const field = $("token");
      token = field.value.trim();
      field.value = "";
      try {
        await api("/admin/connectors?limit=1");
      } catch (err) {
        if (err.status !== 401) signOut(err.message);
        return;
      }
      $("sign-in").hidden = true;
      $("view").hidden = false;
      $("nav").hidden = $("sign-out").hidden = false;
      route();
    });
    $("sign-out").addEventListener("click", () => signOut("Signed out."));
    window.addEventListener("hashchange", route);
  });
})();
