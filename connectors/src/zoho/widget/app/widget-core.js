// Zoho CRM widget core: everything the widget does except touching the DOM and the ZOHO global.
// Plain ES module with no imports so vitest runs it in Node (test/zoho-widget.test.ts) and
// widget.js loads it in the browser. The view logic mirrors the Odoo addon's thread_logic.js
// (two deployables, no shared bundle).

/** origin (CoEx extension API) → badge key and CSS modifier. */
export const ORIGIN_BADGES = {
    customer: { key: "customer", css: "customer" },
    app: { key: "phone_app", css: "app" },
    agent: { key: "agent", css: "agent" },
    api: { key: "api", css: "api" },
    history: { key: "history", css: "history" },
};

const UNKNOWN_BADGE = { key: "unknown", css: "unknown" };

// <shared-thread-logic> Identical in connectors/src/zoho/widget/app/widget-core.js and
// odoo-addon-bridge/.../thread_panel/thread_logic.js: each platform ships a self-contained asset, so the
// block is copied, and test/ui-shared-logic.test.ts fails when the copies drift. Edit both.
export function badgeFor(message) {
    return (message && ORIGIN_BADGES[message.origin]) || UNKNOWN_BADGE;
}

/**
 * Timestamps arrive as ISO strings, epoch seconds (Meta's convention, sometimes as a string) or
 * epoch milliseconds. Returns epoch ms, or null when unreadable.
 */
export function parseTimestamp(value) {
    if (value === null || value === undefined || value === "") {
        return null;
    }
    if (typeof value === "number" || /^\d+(\.\d+)?$/.test(String(value))) {
        const n = Number(value);
        if (!Number.isFinite(n)) {
            return null;
        }
        // Below 1e11 it cannot be milliseconds of any date after 1973: treat as seconds.
        return n < 1e11 ? Math.round(n * 1000) : Math.round(n);
    }
    const ms = Date.parse(String(value));
    return Number.isNaN(ms) ? null : ms;
}

/** 'YYYY-MM-DD' of an instant in a time zone (en-CA formats dates that way). */
export function dayKey(ms, timeZone) {
    return new Intl.DateTimeFormat("en-CA", {
        timeZone,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
    }).format(new Date(ms));
}

export function formatTime(ms, { timeZone, locale } = {}) {
    return new Intl.DateTimeFormat(locale || "en", {
        timeZone,
        hour: "2-digit",
        minute: "2-digit",
    }).format(new Date(ms));
}

export function formatDay(ms, { timeZone, locale } = {}) {
    return new Intl.DateTimeFormat(locale || "en", {
        timeZone,
        weekday: "short",
        year: "numeric",
        month: "short",
        day: "numeric",
    }).format(new Date(ms));
}

/** What to show under a voice note: nothing, "transcribing…", the text, or "unavailable". */
export function transcriptView(message) {
    const text = typeof message.transcript === "string" ? message.transcript.trim() : "";
    if (text) {
        return { kind: "text", text };
    }
    const state = message.transcript_state;
    if (state === "pending" || state === "processing" || state === "queued") {
        return { kind: "pending", text: "" };
    }
    if (state === "failed" || state === "error" || state === "unavailable") {
        return { kind: "failed", text: "" };
    }
    // An audio message without a transcript state yet is still waiting for one.
    if (message.type === "audio" || message.type === "voice") {
        return { kind: "pending", text: "" };
    }
    return { kind: "none", text: "" };
}

/** Placeholder key for messages without text (media, stickers, reactions...). */
export function bodyFor(message) {
    if (typeof message.text === "string" && message.text.trim()) {
        return { kind: "text", text: message.text };
    }
    const type = typeof message.type === "string" && message.type ? message.type : "unknown";
    return { kind: "media", mediaType: type, text: "" };
}

/**
 * Messages → day groups in chronological order. Messages are deduplicated by id (the server may
 * return a history copy and a live copy of one message); unreadable timestamps sort last.
 */
export function buildTimeline(messages, { timeZone, locale } = {}) {
    const seen = new Set();
    const rows = [];
    for (const [index, message] of (messages || []).entries()) {
        if (!message || (message.id !== undefined && seen.has(message.id))) {
            continue;
        }
        if (message.id !== undefined) {
            seen.add(message.id);
        }
        const at = parseTimestamp(message.timestamp);
        rows.push({ message, at, index });
    }
    rows.sort((a, b) => {
        if (a.at === null || b.at === null) {
            return a.at === null && b.at === null ? a.index - b.index : a.at === null ? 1 : -1;
        }
        return a.at - b.at || a.index - b.index;
    });
    const groups = [];
    for (const { message, at } of rows) {
        const key = at === null ? "unknown" : dayKey(at, timeZone);
        let group = groups[groups.length - 1];
        if (!group || group.day !== key) {
            group = {
                day: key,
                label: at === null ? "" : formatDay(at, { timeZone, locale }),
                items: [],
            };
            groups.push(group);
        }
        group.items.push({
            id: message.id,
            direction: message.direction === "outbound" ? "outbound" : "inbound",
            badge: badgeFor(message),
            body: bodyFor(message),
            transcript: transcriptView(message),
            status: message.status || "",
            time: at === null ? "" : formatTime(at, { timeZone, locale }),
            at,
        });
    }
    return groups;
}

/**
 * Free text is only allowed inside the 24-hour customer-service window; outside it the reply box
 * becomes a template picker. The server's closes_at wins over a stale `open: true`.
 */
export function composerMode(payload, nowMs) {
    const thread = payload && payload.thread;
    if (!thread) {
        return { mode: "none", closesAt: null, minutesLeft: 0 };
    }
    const win = thread.window || {};
    const closesAt = parseTimestamp(win.closes_at);
    const open = Boolean(win.open) && (closesAt === null || closesAt > nowMs);
    if (!open) {
        return { mode: "template", closesAt, minutesLeft: 0 };
    }
    const minutesLeft = closesAt === null ? null : Math.max(0, Math.floor((closesAt - nowMs) / 60000));
    return { mode: "text", closesAt, minutesLeft };
}

/** A 409 { code: 'window_closed' } from the server switches the composer to templates. */
export function isWindowClosedError(error) {
    return Boolean(error) && (error.code === "window_closed" || error.status === 409);
}

const BOT_STATES = {
    active: { key: "bot_active", toggle: "pause" },
    paused: { key: "bot_paused", toggle: "resume" },
    handoff_requested: { key: "bot_handoff", toggle: "resume" },
    off: { key: "bot_off", toggle: "resume" },
};

/** Known hand-off causes → label keys; anything else is shown as the server sent it. */
export const CAUSE_KEYS = {
    app_echo: "cause_app_echo",
    echo: "cause_app_echo",
    crm_reply: "cause_crm_reply",
    agent_reply: "cause_crm_reply",
    customer_request: "cause_customer_request",
    handoff_requested: "cause_customer_request",
    manual: "cause_manual",
    quiet_period: "cause_quiet_period",
    auto_resume: "cause_quiet_period",
    timeout: "cause_quiet_period",
};

export function botView(bot, nowMs) {
    if (!bot) {
        return null;
    }
    const known = BOT_STATES[bot.state] || { key: "bot_unknown", toggle: "resume" };
    const pausedUntil = parseTimestamp(bot.paused_until);
    const history = (bot.history || [])
        .map((h, index) => ({
            from: h.from || "",
            to: h.to || "",
            cause: h.cause || "",
            causeKey: CAUSE_KEYS[h.cause] || null,
            actor: h.actor || "",
            at: parseTimestamp(h.at),
            index,
        }))
        // Newest first; the panel shows the last few.
        .sort((a, b) => (b.at ?? -Infinity) - (a.at ?? -Infinity) || b.index - a.index);
    return {
        state: bot.state,
        key: known.key,
        toggleAction: known.toggle,
        canTurnOff: bot.state !== "off",
        pausedUntil: pausedUntil !== null && pausedUntil > nowMs ? pausedUntil : null,
        history,
    };
}

/** Progress comes as 0..1, 0..100, or { percent }: normalise to an integer percentage or null. */
export function progressPercent(progress) {
    let value = progress;
    if (value && typeof value === "object") {
        value = value.percent;
    }
    if (typeof value !== "number" || !Number.isFinite(value)) {
        return null;
    }
    const pct = value <= 1 ? value * 100 : value;
    return Math.max(0, Math.min(100, Math.round(pct)));
}

export function syncView(sync) {
    const history = (sync && sync.history) || {};
    const contacts = (sync && sync.contacts) || {};
    const status = history.status || "unknown";
    const running = ["pending", "in_progress", "running", "importing"].includes(status);
    return {
        history: {
            status,
            percent: progressPercent(history.progress),
            running,
            declined: status === "declined",
            failed: status === "failed",
            // Nothing to say once history is fully in.
            visible: running || status === "declined" || status === "failed",
        },
        contacts: { status: contacts.status || "unknown" },
    };
}

/** "name|language" lines (bridge settings) → template choices. */
export function parseTemplateChoices(lines) {
    const list = Array.isArray(lines) ? lines : String(lines || "").split(/\r?\n|,/);
    const choices = [];
    for (const raw of list) {
        const line = String(raw).trim();
        if (!line) {
            continue;
        }
        const [name, language] = line.split("|").map((s) => s.trim());
        if (name && /^[a-z0-9_]+$/.test(name)) {
            choices.push({ name, language: language || "en", id: `${name}|${language || "en"}` });
        }
    }
    return choices;
// </shared-thread-logic>
}

// ── strings ────────────────────────────────────────────────────────────────────────────────

/** English strings; add a locale by adding a key (the widget picks navigator.language). */
export const MESSAGES = {
    en: {
        customer: "Customer",
        phone_app: "Phone app",
        agent: "Agent",
        api: "API",
        history: "History",
        unknown: "Other",
        bot_active: "Bot active",
        bot_paused: "Bot paused",
        bot_handoff: "Customer asked for a person",
        bot_off: "Bot off",
        bot_unknown: "Bot state unknown",
        pause: "Pause bot",
        resume: "Resume bot",
        off: "Turn bot off",
        cause_app_echo: "Reply from the phone app",
        cause_crm_reply: "Agent reply from a CRM",
        cause_customer_request: "Customer asked for a person",
        cause_manual: "Manual toggle",
        cause_quiet_period: "Quiet period ended",
        transcribing: "Transcribing…",
        transcript_failed: "Transcript unavailable",
        send: "Send",
        send_template: "Send template",
        window_closed: "The 24-hour window is closed: only a template can be sent.",
        history_running: "Importing WhatsApp history",
        history_declined: "The business declined sharing its WhatsApp history.",
        history_failed: "History import failed.",
        no_thread: "No WhatsApp conversation with this number yet.",
        no_phone: "This record has no Phone or Mobile number.",
        loading: "Loading WhatsApp thread…",
        reply_placeholder: "Reply on WhatsApp…",
        choose_template: "Choose a template",
        no_templates: "No templates configured (extension setting coex_templates).",
        paused_until: "Paused until",
        not_configured: "CoEx is not configured: set the server URL and install key in the extension settings.",
    },
};

export function translator(locale) {
    const lang = String(locale || "en").slice(0, 2).toLowerCase();
    const table = MESSAGES[lang] || MESSAGES.en;
    return (key) => table[key] ?? MESSAGES.en[key] ?? key;
}

// ── signing ────────────────────────────────────────────────────────────────────────────────

const encoder = new TextEncoder();

function toHex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The string that is signed: METHOD \n path-with-query \n timestamp \n nonce \n raw body. */
export function canonicalString({ method, pathWithQuery, timestamp, nonce, body }) {
    return [String(method).toUpperCase(), pathWithQuery, String(timestamp), nonce, body || ""].join("\n");
}

/** hex HMAC-SHA256 with Web Crypto (browser, and Node's globalThis.crypto in tests). */
export async function sign(key, parts, subtle = globalThis.crypto.subtle) {
    const cryptoKey = await subtle.importKey("raw", encoder.encode(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return toHex(await subtle.sign("HMAC", cryptoKey, encoder.encode(canonicalString(parts))));
}

export function randomNonce(cryptoImpl = globalThis.crypto) {
    const bytes = new Uint8Array(16);
    cryptoImpl.getRandomValues(bytes);
    return toHex(bytes);
}

// ── configuration ──────────────────────────────────────────────────────────────────────────

/** API names of the extension's org variables (Custom Properties); see README.md. */
export const CONFIG_KEYS = {
    serverUrl: "coex_server_url",
    installKey: "coex_install_key",
    templates: "coex_templates",
};

/**
 * ZOHO.CRM.API.getOrgVariable({ apiKeys }) answers { Success: { Content: { name: { value } } } };
 * a packaged extension prefixes names with its namespace ("coexwhatsapp__coex_server_url"), so
 * names are matched by suffix.
 */
export function configFromOrgVariables(response) {
    const content = response && response.Success && response.Success.Content;
    const read = (name) => {
        if (!content || typeof content !== "object") {
            return "";
        }
        const hit = Object.keys(content).find((k) => k === name || k.endsWith(`__${name}`));
        const entry = hit === undefined ? undefined : content[hit];
        const value = entry && typeof entry === "object" ? entry.value : entry;
        return typeof value === "string" && value !== "null" ? value.trim() : "";
    };
    return {
        serverUrl: read(CONFIG_KEYS.serverUrl).replace(/\/+$/, ""),
        installKey: read(CONFIG_KEYS.installKey),
        templates: read(CONFIG_KEYS.templates),
    };
}

/** ZOHO.CRM.CONFIG.getOrgInfo() answers { org: [{ zgid, ... }] }: zgid is the org id CoEx knows. */
export function orgIdFromOrgInfo(info) {
    const org = info && Array.isArray(info.org) ? info.org[0] : undefined;
    const id = org && (org.zgid ?? org.id);
    return id === undefined || id === null ? "" : String(id);
}

export function configProblem(config) {
    if (!config.serverUrl || !/^https?:\/\/[^/]/.test(config.serverUrl)) {
        return "not_configured";
    }
    if (!config.installKey || !config.account) {
        return "not_configured";
    }
    return null;
}

/** ZOHO.CRM.API.getRecord answers { data: [record] }: Mobile first (WhatsApp lives on mobiles). */
export function phoneFromRecord(response) {
    const record = response && Array.isArray(response.data) ? response.data[0] : undefined;
    if (!record) {
        return "";
    }
    for (const field of ["Mobile", "Phone"]) {
        const value = record[field];
        if (typeof value === "string" && value.trim()) {
            return value.trim();
        }
    }
    return "";
}

// ── CoEx client ────────────────────────────────────────────────────────────────────────────

export class CoexApiError extends Error {
    constructor(code, message, status) {
        super(message);
        this.code = code;
        this.status = status;
    }
}

/**
 * Calls {serverUrl}/ext/v1/zoho/... with the signed headers. The signed path is the URL's
 * pathname + search exactly as sent (so a server mounted under a prefix signs the same string).
 */
export function createCoexClient({ serverUrl, account, installKey, fetchImpl = globalThis.fetch, cryptoImpl = globalThis.crypto, now = () => Date.now() }) {
    const base = serverUrl.replace(/\/+$/, "");
    async function call(method, path, payload) {
        const url = new URL(base + path);
        const body = payload === undefined ? "" : JSON.stringify(payload);
        const timestamp = String(now());
        const nonce = randomNonce(cryptoImpl);
        const signature = await sign(installKey, { method, pathWithQuery: url.pathname + url.search, timestamp, nonce, body }, cryptoImpl.subtle);
        const headers = {
            Accept: "application/json",
            "X-Coex-Account": account,
            "X-Coex-Timestamp": timestamp,
            "X-Coex-Nonce": nonce,
            "X-Coex-Signature": signature,
        };
        if (payload !== undefined) {
            headers["Content-Type"] = "application/json";
        }
        let response;
        try {
            response = await fetchImpl(url.toString(), { method, headers, body: payload === undefined ? undefined : body });
        } catch (error) {
            throw new CoexApiError("unreachable", `CoEx is unreachable: ${error && error.message}`);
        }
        const text = await response.text();
        let json = null;
        try {
            json = text ? JSON.parse(text) : null;
        } catch {
            json = null;
        }
        if (!response.ok) {
            throw errorForStatus(response.status, json);
        }
        if (text && json === null) {
            throw new CoexApiError("bad_response", "CoEx answered with something that is not JSON.", response.status);
        }
        return json;
    }
    const threadPath = (id, tail) => `/ext/v1/zoho/threads/${encodeURIComponent(String(id))}/${tail}`;
    return {
        async getThread(phone) {
            return checkThreadPayload(await call("GET", `/ext/v1/zoho/thread?${new URLSearchParams({ phone })}`));
        },
        setBot(threadId, action) {
            if (!["pause", "resume", "off"].includes(action)) {
                throw new CoexApiError("bad_request", `Unknown bot action ${action}`);
            }
            return call("POST", threadPath(threadId, "bot"), { action });
        },
        sendText(threadId, text) {
            return call("POST", threadPath(threadId, "messages"), { text });
        },
        sendTemplate(threadId, template) {
            return call("POST", threadPath(threadId, "messages"), { template: { name: template.name, language: template.language } });
        },
    };
}

export function errorForStatus(status, json) {
    const code = json && typeof json.code === "string" ? json.code : undefined;
    if (status === 409 && code === "window_closed") {
        return new CoexApiError("window_closed", "The 24-hour window is closed: send a template.", status);
    }
    if (status === 401 || status === 403) {
        return new CoexApiError("unauthorized", "CoEx refused the signature: check the install key.", status);
    }
    if (status === 404) {
        return new CoexApiError("not_found", "CoEx does not know this thread.", status);
    }
    if (status >= 400 && status < 500) {
        return new CoexApiError(code || "bad_request", (json && json.message) || `CoEx rejected the request (HTTP ${status}).`, status);
    }
    return new CoexApiError("server_error", `CoEx failed (HTTP ${status}).`, status);
}

/** Shape check of GET /thread before rendering (the widget renders defensively after this). */
export function checkThreadPayload(payload) {
    if (!payload || typeof payload !== "object") {
        throw new CoexApiError("bad_response", "CoEx answered with an unexpected thread payload.");
    }
    const thread = payload.thread ?? null;
    if (thread !== null && (typeof thread !== "object" || !("id" in thread))) {
        throw new CoexApiError("bad_response", "CoEx answered with a thread without an id.");
    }
    const messages = payload.messages ?? [];
    if (!Array.isArray(messages) || messages.some((m) => !m || typeof m !== "object")) {
        throw new CoexApiError("bad_response", "CoEx answered with malformed messages.");
    }
    return { thread, messages, sync: payload.sync && typeof payload.sync === "object" ? payload.sync : {} };
}

// ── rendering ──────────────────────────────────────────────────────────────────────────────

export function escapeHtml(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function formatDateTime(ms, { timeZone, locale } = {}) {
    return ms === null || ms === undefined
        ? ""
        : new Intl.DateTimeFormat(locale || "en", { timeZone, dateStyle: "medium", timeStyle: "short" }).format(new Date(ms));
}

/**
 * The whole widget body as an HTML string (every value escaped). Buttons carry data-action
 * attributes that widget.js wires up: bot-pause | bot-resume | bot-off | send-text | send-template.
 */
export function renderWidget(state, { now = Date.now(), timeZone, locale } = {}) {
    const t = translator(locale);
    const e = escapeHtml;
    if (state.problem) {
        return `<div class="coex-notice coex-problem" data-problem="${e(state.problem)}">${e(t(state.problem))}</div>`;
    }
    if (state.loading) {
        return `<div class="coex-notice">${e(t("loading"))}</div>`;
    }
    const out = [];
    const payload = state.payload || { thread: null, messages: [], sync: {} };
    const thread = payload.thread;
    const bot = botView(thread && thread.bot, now);
    out.push(`<header class="coex-header"><span class="coex-title">WhatsApp${thread ? ` · ${e(thread.contact_name || thread.wa_id || "")}` : ""}</span>`);
    if (bot) {
        out.push(`<span class="coex-bot coex-bot-${e(bot.state)}" data-bot-state="${e(bot.state)}">${e(t(bot.key))}</span>`);
        out.push(`<button type="button" class="coex-btn" data-action="bot-${bot.toggleAction}"${state.busy ? " disabled" : ""}>${e(t(bot.toggleAction))}</button>`);
        if (bot.canTurnOff) {
            out.push(`<button type="button" class="coex-btn coex-btn-danger" data-action="bot-off"${state.busy ? " disabled" : ""}>${e(t("off"))}</button>`);
        }
    }
    out.push("</header>");

    const sync = syncView(payload.sync);
    if (sync.history.visible) {
        if (sync.history.running) {
            const pct = sync.history.percent ?? 0;
            out.push(`<div class="coex-sync" data-sync="running">${e(t("history_running"))} <progress max="100" value="${pct}">${pct}%</progress> <span class="coex-sync-pct">${pct}%</span></div>`);
        } else if (sync.history.declined) {
            out.push(`<div class="coex-sync" data-sync="declined">${e(t("history_declined"))}</div>`);
        } else {
            out.push(`<div class="coex-sync" data-sync="failed">${e(t("history_failed"))}</div>`);
        }
    }
    if (state.error) {
        out.push(`<div class="coex-error" role="alert" data-error="${e(state.error.code || "")}">${e(state.error.message || state.error.code)}</div>`);
    }
    if (!thread) {
        out.push(`<div class="coex-notice coex-empty">${e(t("no_thread"))}</div>`);
        return out.join("");
    }

    if (bot && bot.history.length) {
        out.push('<ul class="coex-bot-history">');
        if (bot.pausedUntil) {
            out.push(`<li class="coex-paused-until">${e(t("paused_until"))} ${e(formatDateTime(bot.pausedUntil, { timeZone, locale }))}</li>`);
        }
        for (const h of bot.history.slice(0, 5)) {
            const cause = h.causeKey ? t(h.causeKey) : h.cause;
            out.push(`<li>${e(formatDateTime(h.at, { timeZone, locale }))} · ${e(h.from)} → ${e(h.to)} · <span class="coex-cause">${e(cause)}</span>${h.actor ? ` (${e(h.actor)})` : ""}</li>`);
        }
        out.push("</ul>");
    }

    out.push('<div class="coex-timeline">');
    for (const group of buildTimeline(payload.messages, { timeZone, locale })) {
        out.push(`<div class="coex-day">${e(group.label)}</div>`);
        for (const item of group.items) {
            out.push(`<div class="coex-msg coex-msg-${item.direction}" data-id="${e(item.id)}"><div class="coex-bubble">`);
            out.push(`<span class="coex-badge coex-badge-${e(item.badge.css)}">${e(t(item.badge.key))}</span> `);
            out.push(item.body.kind === "text" ? `<span class="coex-text">${e(item.body.text)}</span>` : `<span class="coex-media">[${e(item.body.mediaType)}]</span>`);
            if (item.transcript.kind === "text") {
                out.push(`<div class="coex-transcript" title="Voice-note transcript">${e(item.transcript.text)}</div>`);
            } else if (item.transcript.kind === "pending") {
                out.push(`<div class="coex-transcript coex-muted">${e(t("transcribing"))}</div>`);
            } else if (item.transcript.kind === "failed") {
                out.push(`<div class="coex-transcript coex-muted">${e(t("transcript_failed"))}</div>`);
            }
            out.push(`<span class="coex-meta">${e(item.time)} ${e(item.status)}</span></div></div>`);
        }
    }
    out.push("</div>");

    let composer = composerMode(payload, now);
    if (state.forceTemplate && composer.mode === "text") {
        composer = { ...composer, mode: "template" };
    }
    if (composer.mode === "text") {
        out.push(`<div class="coex-composer" data-mode="text"><textarea id="coex-reply" rows="2" placeholder="${e(t("reply_placeholder"))}"></textarea><button type="button" class="coex-btn coex-btn-primary" data-action="send-text"${state.busy ? " disabled" : ""}>${e(t("send"))}</button></div>`);
    } else {
        const templates = parseTemplateChoices(state.templates);
        out.push(`<div class="coex-composer" data-mode="template"><div class="coex-muted">${e(t("window_closed"))}</div>`);
        if (templates.length) {
            out.push(`<select id="coex-template"><option value="">${e(t("choose_template"))}</option>`);
            for (const tpl of templates) {
                out.push(`<option value="${e(tpl.id)}">${e(tpl.name)} (${e(tpl.language)})</option>`);
            }
            out.push(`</select><button type="button" class="coex-btn coex-btn-primary" data-action="send-template"${state.busy ? " disabled" : ""}>${e(t("send_template"))}</button>`);
        } else {
            out.push(`<div class="coex-muted">${e(t("no_templates"))}</div>`);
        }
        out.push("</div>");
    }
    return out.join("");
}
