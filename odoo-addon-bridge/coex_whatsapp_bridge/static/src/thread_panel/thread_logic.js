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

// ── templates (GET /ext/v1/:crm/templates) ──

/** {{1}} or {{first_name}} in a template body; the names match the server's `parameters.names`. */
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g;

/**
 * GET /templates → what the picker offers: the sendable templates only (the others need a media
 * header, button values or a one-time code the reply box cannot give), how many were left out, and
 * whether the server served its last list because Meta could not be reached (`stale`).
 */
export function templateChoices(response) {
    const all = response && Array.isArray(response.templates) ? response.templates : [];
    const choices = [];
    let unsendable = 0;
    for (const tpl of all) {
        if (!tpl || typeof tpl.name !== "string" || !tpl.name || typeof tpl.language !== "string" || !tpl.language) {
            continue;
        }
        if (tpl.sendable !== true) {
            unsendable += 1;
            continue;
        }
        const parameters = tpl.parameters || {};
        const names = Array.isArray(parameters.names) ? parameters.names.map(String) : [];
        choices.push({
            id: `${tpl.name}|${tpl.language}`,
            name: tpl.name,
            language: tpl.language,
            category: typeof tpl.category === "string" ? tpl.category : "",
            body: typeof tpl.body === "string" ? tpl.body : "",
            format: parameters.format === "named" ? "named" : "positional",
            names,
        });
    }
    return {
        choices,
        unsendable,
        stale: Boolean(response && response.stale),
        fetchedAt: parseTimestamp(response && response.fetched_at),
    };
}

/**
 * Why a parameter value cannot be sent, or null. Meta refuses body parameters with new lines, tabs
 * or more than four spaces in a row (error 132018), so the picker says it before sending.
 */
export function templateParameterProblem(value) {
    const text = typeof value === "string" ? value.trim() : "";
    if (!text) {
        return "param_required";
    }
    if (/[\n\r\t]| {5,}/.test(text)) {
        return "param_whitespace";
    }
    return null;
}

/**
 * The body with the values typed so far: `segments` alternate plain text and placeholders
 * ({ text, name, filled }) so a UI can mark the missing ones; `text` is the flat preview.
 */
export function templatePreview(choice, values) {
    const body = (choice && choice.body) || "";
    const given = values || {};
    const segments = [];
    let last = 0;
    for (const match of body.matchAll(PLACEHOLDER)) {
        if (match.index > last) {
            segments.push({ text: body.slice(last, match.index), name: null, filled: true });
        }
        const name = match[1];
        const value = typeof given[name] === "string" ? given[name].trim() : "";
        segments.push({ text: value || `{{${name}}}`, name, filled: Boolean(value) });
        last = match.index + match[0].length;
    }
    if (last < body.length) {
        segments.push({ text: body.slice(last), name: null, filled: true });
    }
    return { segments, text: segments.map((s) => s.text).join("") };
}

/**
 * The `template` object of POST /threads/:id/messages, or null while a parameter is missing or
 * invalid: body_parameters is an array in `names` order (positional) or an object keyed by name
 * (named), and is left out for a template without parameters.
 */
export function templateMessage(choice, values) {
    if (!choice) {
        return null;
    }
    const given = values || {};
    if (choice.names.some((name) => templateParameterProblem(given[name]) !== null)) {
        return null;
    }
    const message = { name: choice.name, language: choice.language };
    if (choice.names.length) {
        const trimmed = choice.names.map((name) => given[name].trim());
        message.body_parameters =
            choice.format === "named" ? Object.fromEntries(choice.names.map((name, i) => [name, trimmed[i]])) : trimmed;
    }
    return message;
}

// ── campaign reports (GET /ext/v1/:crm/campaigns) ──

const CAMPAIGN_STATUS_KEYS = {
    draft: "campaign_draft",
    scheduled: "campaign_scheduled",
    running: "campaign_running",
    paused: "campaign_paused",
    completed: "campaign_completed",
};

const OPT_OUT_SOURCE_KEYS = {
    keyword: "opt_out_keyword",
    api: "opt_out_api",
    crm: "opt_out_crm",
    131050: "opt_out_meta",
};

/** This customer's outcome in one campaign: the furthest state their message reached. */
export function recipientOutcome(recipient) {
    if (!recipient) {
        return null;
    }
    const status = recipient.status;
    const messageStatus = recipient.message_status;
    let key;
    if (status === "failed" || messageStatus === "failed") {
        key = "failed";
    } else if (status === "skipped") {
        key = "skipped";
    } else if (status === "queued" || status === "sending") {
        key = "pending";
    } else if (messageStatus === "read" || messageStatus === "played") {
        key = "read";
    } else if (messageStatus === "delivered") {
        key = "delivered";
    } else {
        key = "sent";
    }
    const errorCode = recipient.error_code === null || recipient.error_code === undefined ? "" : String(recipient.error_code);
    return {
        key,
        labelKey: `outcome_${key}`,
        errorCode: key === "failed" ? errorCode : "",
        error: key === "failed" && typeof recipient.error === "string" ? recipient.error : "",
        sentAt: parseTimestamp(recipient.sent_at),
        replied: recipient.replied === true,
    };
}

function countOf(value) {
    return typeof value === "number" && Number.isFinite(value) && value >= 0 ? Math.round(value) : 0;
}

/** GET /campaigns → the card's Campaigns block, newest first as the server sent them. */
export function campaignsView(response) {
    const list = response && Array.isArray(response.campaigns) ? response.campaigns : [];
    const campaigns = list
        .filter((c) => c && typeof c === "object")
        .map((c, index) => {
            const template = c.template || {};
            const counts = c.counts || {};
            return {
                id: c.id === undefined || c.id === null ? `campaign-${index}` : String(c.id),
                name: typeof c.name === "string" && c.name ? c.name : "—",
                status: typeof c.status === "string" ? c.status : "",
                statusKey: CAMPAIGN_STATUS_KEYS[c.status] || null,
                template: template.name ? `${template.name}${template.language ? ` (${template.language})` : ""}` : "",
                startedAt: parseTimestamp(c.started_at) ?? parseTimestamp(c.created_at),
                outcome: recipientOutcome(c.recipient),
                totals: {
                    total: countOf(counts.total),
                    sent: countOf(counts.sent),
                    delivered: countOf(counts.delivered),
                    read: countOf(counts.read),
                    failed: countOf(counts.failed),
                    replied: countOf(counts.replied),
                },
            };
        });
    const optOut = response && response.opt_out && typeof response.opt_out === "object" ? response.opt_out : null;
    return {
        campaigns,
        optOut: optOut
            ? {
                  source: String(optOut.source ?? ""),
                  sourceKey: OPT_OUT_SOURCE_KEYS[optOut.source] || null,
                  detail: typeof optOut.detail === "string" ? optOut.detail : "",
                  at: parseTimestamp(optOut.at),
              }
            : null,
    };
}

// ── scrolling the timeline ──

/** Within this many pixels of the end counts as "at the newest message". */
export const STICKY_BOTTOM_PX = 48;

export function isNearBottom(metrics, slack = STICKY_BOTTOM_PX) {
    if (!metrics) {
        return true;
    }
    return metrics.scrollHeight - metrics.clientHeight - metrics.scrollTop <= slack;
}

/**
 * Where the timeline should be scrolled after it re-rendered. `reason`: "load" (first render of a
 * record) and "sent" (the user's own message) go to the newest message; "refresh" follows new
 * messages only when the user was already at the bottom, and otherwise keeps their position.
 * `before`/`after`: { scrollTop, scrollHeight, clientHeight } of the scroll box.
 */
export function nextScrollTop(reason, before, after) {
    const bottom = Math.max(0, after.scrollHeight - after.clientHeight);
    if (reason !== "refresh" || isNearBottom(before)) {
        return bottom;
    }
    return Math.min(before.scrollTop, bottom);
}
// </shared-thread-logic>

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
