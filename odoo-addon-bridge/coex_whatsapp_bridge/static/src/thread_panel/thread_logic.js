/** @odoo-module **/
// Pure view logic of the CoEx thread panel. No Odoo or OWL imports on purpose: vitest imports this
// file directly (test/odoo-addon.test.ts), and the OWL component only maps its output to markup.
// Labels are returned as keys; the component turns them into _t("...") literals so Odoo's
// translation extractor sees every string.

/** Models whose chatter gets the panel. crm.lead only exists when crm is installed. */
export const PANEL_MODELS = ["res.partner", "crm.lead"];

/** origin (CoEx extension API) → badge key and CSS modifier. */
export const ORIGIN_BADGES = {
    customer: { key: "customer", css: "customer" },
    app: { key: "phone_app", css: "app" },
    agent: { key: "agent", css: "agent" },
    api: { key: "api", css: "api" },
    history: { key: "history", css: "history" },
};

const UNKNOWN_BADGE = { key: "unknown", css: "unknown" };

export function shouldShowPanel(model, resId) {
    return PANEL_MODELS.includes(model) && Number.isInteger(resId) && resId > 0;
}

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

/** Body of a JSON-RPC call to an Odoo type="json" route; plain fetch works the same on 17 and 18. */
export function jsonRpcBody(params, id = 1) {
    return { jsonrpc: "2.0", method: "call", params: params || {}, id };
}

/** Odoo JSON-RPC envelope → result, or throws an Error carrying Odoo's message. */
export function unwrapJsonRpc(envelope) {
    if (envelope && envelope.error) {
        const data = envelope.error.data || {};
        const error = new Error(data.message || envelope.error.message || "Odoo RPC error");
        error.code = "odoo_error";
        throw error;
    }
    if (!envelope || !("result" in envelope)) {
        const error = new Error("Malformed JSON-RPC response");
        error.code = "bad_response";
        throw error;
    }
    return envelope.result;
}
