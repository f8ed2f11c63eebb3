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
        templates_loading: "Loading the approved templates…",
        templates_failed: "The approved templates could not be loaded:",
        no_templates: "This WhatsApp number has no approved template that can be sent from here.",
        unsendable_hidden: "Templates hidden because they need media, button values or a code:",
        templates_stale: "WhatsApp could not be reached: this is the last template list CoEx saw.",
        retry: "Retry",
        preview: "Preview",
        param_required: "Required",
        param_whitespace: "No line breaks, tabs or more than 4 spaces in a row",
        paused_until: "Paused until",
        campaigns: "Campaigns",
        campaigns_loading: "Loading campaigns…",
        campaigns_failed: "Campaigns could not be loaded:",
        no_campaigns: "No campaign included this customer yet.",
        campaign_draft: "Draft",
        campaign_scheduled: "Scheduled",
        campaign_running: "Running",
        campaign_paused: "Paused",
        campaign_completed: "Completed",
        outcome_sent: "Sent",
        outcome_delivered: "Delivered",
        outcome_read: "Read",
        outcome_failed: "Failed",
        outcome_pending: "Not sent yet",
        outcome_skipped: "Skipped",
        replied: "Replied",
        totals_sent: "sent",
        totals_delivered: "delivered",
        totals_read: "read",
        totals_failed: "failed",
        totals_replied: "replied",
        totals_recipients: "recipients",
        opt_out: "Opted out of marketing messages",
        opt_out_keyword: "replied a stop keyword",
        opt_out_api: "recorded through the API",
        opt_out_crm: "recorded from a CRM",
        opt_out_meta: "WhatsApp reported the customer stopped marketing messages (131050)",
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
        /** template: { name, language, body_parameters? } as built by templateMessage(). */
        sendTemplate(threadId, template) {
            if (!template || !template.name || !template.language) {
                throw new CoexApiError("bad_request", "Choose a template.");
            }
            const message = { name: template.name, language: template.language };
            if (template.body_parameters !== undefined) {
                message.body_parameters = template.body_parameters;
            }
            return call("POST", threadPath(threadId, "messages"), { template: message });
        },
        /** Approved templates of the thread's number (phone_number_id from the thread payload). */
        async getTemplates(phoneNumberId) {
            const query = phoneNumberId ? `?${new URLSearchParams({ phone_number_id: String(phoneNumberId) })}` : "";
            return checkTemplatesPayload(await call("GET", `/ext/v1/zoho/templates${query}`));
        },
        /** Campaigns that included this customer, newest first, and their marketing opt-out. */
        async getCampaigns(phone, limit = CAMPAIGN_LIMIT) {
            return checkCampaignsPayload(await call("GET", `/ext/v1/zoho/campaigns?${new URLSearchParams({ phone, limit: String(limit) })}`));
        },
    };
}

/** Campaigns shown in the widget (the server allows 1..50). */
export const CAMPAIGN_LIMIT = 5;

export function errorForStatus(status, json) {
    const code = json && typeof json.code === "string" ? json.code : undefined;
    // The extension API's sentence for people is in "error"; "message" kept for older servers.
    const serverMessage = json && [json.error, json.message].find((v) => typeof v === "string" && v);
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
        return new CoexApiError(code || "bad_request", serverMessage || `CoEx rejected the request (HTTP ${status}).`, status);
    }
    if (status === 502 && code === "templates_unavailable") {
        return new CoexApiError(code, "WhatsApp did not give the template list and CoEx has none cached; try again shortly.", status);
    }
    if (code === "send_failed") {
        return new CoexApiError(code, serverMessage || "WhatsApp refused the message.", status);
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

/** Shape check of GET /templates: a list of objects with a name and a language. */
export function checkTemplatesPayload(payload) {
    const templates = payload && payload.templates;
    if (!Array.isArray(templates) || templates.some((t) => !t || typeof t.name !== "string" || typeof t.language !== "string")) {
        throw new CoexApiError("bad_response", "CoEx answered with an unexpected template list.");
    }
    return { templates, stale: payload.stale === true, fetched_at: payload.fetched_at ?? null };
}

/** Shape check of GET /campaigns: a list of campaign objects and an optional opt-out object. */
export function checkCampaignsPayload(payload) {
    const campaigns = payload && payload.campaigns;
    if (!Array.isArray(campaigns) || campaigns.some((c) => !c || typeof c !== "object")) {
        throw new CoexApiError("bad_response", "CoEx answered with an unexpected campaign list.");
    }
    return { campaigns, opt_out: payload.opt_out && typeof payload.opt_out === "object" ? payload.opt_out : null };
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
        out.push(renderCampaigns(state.campaigns, { t, timeZone, locale }));
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

    const composer = widgetComposerMode(state, now);
    if (composer.mode === "text") {
        out.push(`<div class="coex-composer" data-mode="text"><textarea id="coex-reply" rows="2" placeholder="${e(t("reply_placeholder"))}">${e(state.draft || "")}</textarea><button type="button" class="coex-btn coex-btn-primary" data-action="send-text"${state.busy ? " disabled" : ""}>${e(t("send"))}</button></div>`);
    } else {
        out.push(`<div class="coex-composer" data-mode="template"><div class="coex-muted">${e(t("window_closed"))}</div>`);
        out.push(renderTemplatePicker(state, t));
        out.push("</div>");
    }
    out.push(renderCampaigns(state.campaigns, { t, timeZone, locale }));
    return out.join("");
}

/** Free text or template picker: the window decides, and a 409 window_closed forces the picker. */
export function widgetComposerMode(state, now = Date.now()) {
    const composer = composerMode(state.payload, now);
    return state.forceTemplate && composer.mode === "text" ? { ...composer, mode: "template" } : composer;
}

/** The chosen template (state.template is its id) among the sendable ones, or null. */
export function chosenTemplate(state) {
    const templates = state.templates && state.templates.data;
    return templateChoices(templates).choices.find((c) => c.id === state.template) || null;
}

/** Body preview with the placeholders still missing marked (widget.js refreshes it on input). */
export function renderTemplatePreview(choice, values, t = translator()) {
    const e = escapeHtml;
    const parts = templatePreview(choice, values).segments.map((seg) =>
        seg.name === null ? e(seg.text) : `<span class="coex-placeholder ${seg.filled ? "coex-filled" : "coex-missing"}" data-placeholder="${e(seg.name)}">${e(seg.text)}</span>`,
    );
    return `<span class="coex-muted">${e(t("preview"))}: </span>${parts.join("")}`;
}

function renderTemplatePicker(state, t) {
    const e = escapeHtml;
    const templates = state.templates || {};
    if (templates.loading) {
        return `<div class="coex-muted" data-templates="loading">${e(t("templates_loading"))}</div>`;
    }
    if (templates.error) {
        return `<div class="coex-error" data-templates="failed">${e(t("templates_failed"))} ${e(templates.error.message || templates.error.code)} <button type="button" class="coex-btn" data-action="retry-templates">${e(t("retry"))}</button></div>`;
    }
    if (!templates.data) {
        return "";
    }
    const view = templateChoices(templates.data);
    const out = [];
    if (view.stale) {
        out.push(`<div class="coex-stale" data-templates="stale">${e(t("templates_stale"))}</div>`);
    }
    if (!view.choices.length) {
        out.push(`<div class="coex-muted" data-templates="empty">${e(t("no_templates"))}</div>`);
    } else {
        const choice = view.choices.find((c) => c.id === state.template) || null;
        const values = state.templateValues || {};
        out.push(`<select id="coex-template" data-templates="ready"><option value="">${e(t("choose_template"))}</option>`);
        for (const tpl of view.choices) {
            out.push(`<option value="${e(tpl.id)}"${choice && choice.id === tpl.id ? " selected" : ""}>${e(tpl.name)} (${e(tpl.language)})</option>`);
        }
        out.push("</select>");
        if (choice) {
            out.push('<div class="coex-params">');
            for (const name of choice.names) {
                const problem = templateParameterProblem(values[name]);
                out.push(`<label class="coex-param"><span class="coex-param-name">{{${e(name)}}}</span><input type="text" required data-param="${e(name)}" value="${e(values[name] || "")}"><span class="coex-param-problem" data-problem-for="${e(name)}">${problem ? e(t(problem)) : ""}</span></label>`);
            }
            out.push(`</div><div class="coex-preview" data-preview>${renderTemplatePreview(choice, values, t)}</div>`);
        }
        const ready = templateMessage(choice, values) !== null;
        out.push(`<button type="button" class="coex-btn coex-btn-primary" data-action="send-template"${state.busy || !ready ? " disabled" : ""}>${e(t("send_template"))}</button>`);
    }
    if (view.unsendable) {
        out.push(`<div class="coex-muted" data-unsendable="${view.unsendable}">${e(t("unsendable_hidden"))} ${view.unsendable}</div>`);
    }
    return out.join("");
}

function formatDate(ms, { timeZone, locale } = {}) {
    return ms === null || ms === undefined ? "" : new Intl.DateTimeFormat(locale || "en", { timeZone, dateStyle: "medium" }).format(new Date(ms));
}

/** The Campaigns block: opt-out first (it decides whether marketing may be sent), then each campaign. */
export function renderCampaigns(campaigns, { t = translator(), timeZone, locale } = {}) {
    const e = escapeHtml;
    const block = campaigns || {};
    const out = [`<section class="coex-campaigns" aria-label="${e(t("campaigns"))}"><div class="coex-section-title">${e(t("campaigns"))}</div>`];
    const view = campaignsView(block.data);
    if (view.optOut) {
        const source = view.optOut.sourceKey ? t(view.optOut.sourceKey) : view.optOut.source;
        const detail = view.optOut.detail ? ` (“${e(view.optOut.detail)}”)` : "";
        const at = view.optOut.at ? ` · ${e(formatDate(view.optOut.at, { timeZone, locale }))}` : "";
        out.push(`<div class="coex-opt-out" role="status" data-opt-out="${e(view.optOut.source)}"><strong>${e(t("opt_out"))}</strong> · ${e(source)}${detail}${at}</div>`);
    }
    if (block.loading && !block.data) {
        out.push(`<div class="coex-muted" data-campaigns="loading">${e(t("campaigns_loading"))}</div>`);
    } else if (block.error) {
        out.push(`<div class="coex-muted coex-campaigns-error" data-campaigns="failed">${e(t("campaigns_failed"))} ${e(block.error.message || block.error.code)}</div>`);
    } else if (block.data && !view.campaigns.length) {
        out.push(`<div class="coex-muted" data-campaigns="empty">${e(t("no_campaigns"))}</div>`);
    } else if (block.data) {
        out.push('<ul class="coex-campaign-list" data-campaigns="ready">');
        for (const c of view.campaigns) {
            const status = c.statusKey ? t(c.statusKey) : c.status;
            out.push(`<li class="coex-campaign" data-campaign="${e(c.id)}"><div class="coex-campaign-head"><strong class="coex-campaign-name">${e(c.name)}</strong><span class="coex-campaign-status coex-campaign-${e(c.status)}">${e(status)}</span></div>`);
            out.push(`<div class="coex-muted">${e(c.template)}${c.startedAt ? ` · ${e(formatDate(c.startedAt, { timeZone, locale }))}` : ""}</div>`);
            if (c.outcome) {
                const o = c.outcome;
                const error = o.errorCode || o.error ? ` <span class="coex-outcome-error">${o.errorCode ? `#${e(o.errorCode)}` : ""}${o.error ? ` ${e(o.error)}` : ""}</span>` : "";
                out.push(`<div class="coex-outcome" data-outcome="${e(o.key)}"${o.replied ? ' data-replied="1"' : ""}><span class="coex-pill coex-outcome-${e(o.key)}">${e(t(o.labelKey))}</span>${o.replied ? ` <span class="coex-pill coex-outcome-replied">${e(t("replied"))}</span>` : ""}${error}</div>`);
            }
            const n = c.totals;
            out.push(`<div class="coex-totals coex-muted" data-totals="${n.sent}/${n.delivered}/${n.read}/${n.failed}/${n.replied}/${n.total}">${n.total} ${e(t("totals_recipients"))}: ${n.sent} ${e(t("totals_sent"))} · ${n.delivered} ${e(t("totals_delivered"))} · ${n.read} ${e(t("totals_read"))} · ${n.failed} ${e(t("totals_failed"))} · ${n.replied} ${e(t("totals_replied"))}</div></li>`);
        }
        out.push("</ul>");
    }
    out.push("</section>");
    return out.join("");
}
