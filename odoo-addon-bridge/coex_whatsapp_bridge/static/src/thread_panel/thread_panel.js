/** @odoo-module **/
import { Component, onWillStart, onWillUpdateProps, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import {
    botView,
    buildTimeline,
    composerMode,
    isWindowClosedError,
    jsonRpcBody,
    parseTemplateChoices,
    syncView,
    unwrapJsonRpc,
} from "./thread_logic";

/** Called at render time (not module load) so the user's language is loaded in 17 and 18. */
function labels() {
    return {
        customer: _t("Customer"),
        phone_app: _t("Phone app"),
        agent: _t("Agent"),
        api: _t("API"),
        history: _t("History"),
        unknown: _t("Other"),
        bot_active: _t("Bot active"),
        bot_paused: _t("Bot paused"),
        bot_handoff: _t("Customer asked for a person"),
        bot_off: _t("Bot off"),
        bot_unknown: _t("Bot state unknown"),
        pause: _t("Pause bot"),
        resume: _t("Resume bot"),
        off: _t("Turn bot off"),
        cause_app_echo: _t("Reply from the phone app"),
        cause_crm_reply: _t("Agent reply from a CRM"),
        cause_customer_request: _t("Customer asked for a person"),
        cause_manual: _t("Manual toggle"),
        cause_quiet_period: _t("Quiet period ended"),
        transcribing: _t("Transcribing…"),
        transcript_failed: _t("Transcript unavailable"),
        media: _t("Media"),
        send: _t("Send"),
        send_template: _t("Send template"),
        window_closed: _t("The 24-hour window is closed: only a template can be sent."),
        history_running: _t("Importing WhatsApp history"),
        history_declined: _t("The business declined sharing its WhatsApp history."),
        history_failed: _t("History import failed."),
        no_thread: _t("No WhatsApp conversation with this number yet."),
        loading: _t("Loading WhatsApp thread…"),
        reply_placeholder: _t("Reply on WhatsApp…"),
        choose_template: _t("Choose a template"),
        no_templates: _t("No templates configured (Settings › CoEx WhatsApp)."),
        paused_until: _t("Paused until"),
        closes_in: _t("Window closes in (minutes):"),
        refresh: _t("Refresh"),
    };
}

export class CoexThreadPanel extends Component {
    static template = "coex_whatsapp_bridge.ThreadPanel";
    static props = { model: String, resId: Number };

    setup() {
        this.labels = labels();
        this.state = useState({
            loading: true,
            payload: null,
            error: null,
            sending: false,
            text: "",
            template: "",
            forceTemplate: false,
        });
        onWillStart(() => this.load(this.props));
        onWillUpdateProps((next) => {
            if (next.model !== this.props.model || next.resId !== this.props.resId) {
                return this.load(next);
            }
        });
    }

    route(props, tail = "") {
        return `/coex/thread/${encodeURIComponent(props.model)}/${props.resId}${tail}`;
    }

    /** Plain fetch against the type="json" routes: the rpc helper moved between 17 and 18. */
    async call(url, params) {
        const response = await fetch(url, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(jsonRpcBody(params)),
        });
        const result = unwrapJsonRpc(await response.json());
        if (!result.ok) {
            const error = new Error(result.error.message);
            Object.assign(error, result.error);
            throw error;
        }
        return result.data;
    }

    async load(props = this.props) {
        this.state.loading = true;
        this.state.error = null;
        try {
            this.state.payload = await this.call(this.route(props), {});
        } catch (error) {
            this.state.payload = null;
            this.state.error = error;
        } finally {
            this.state.loading = false;
        }
    }

    get timeline() {
        return buildTimeline(this.state.payload?.messages || []);
    }

    get composer() {
        const mode = composerMode(this.state.payload, Date.now());
        return this.state.forceTemplate && mode.mode === "text" ? { ...mode, mode: "template" } : mode;
    }

    get bot() {
        return botView(this.state.payload?.thread?.bot, Date.now());
    }

    get sync() {
        return syncView(this.state.payload?.sync);
    }

    get templates() {
        return parseTemplateChoices(this.state.payload?.templates);
    }

    badgeLabel(item) {
        return this.labels[item.badge.key];
    }

    causeLabel(entry) {
        return entry.causeKey ? this.labels[entry.causeKey] : entry.cause;
    }

    formatDateTime(ms) {
        return ms ? new Date(ms).toLocaleString() : "";
    }

    async onBot(action) {
        await this.act("/bot", { action });
    }

    async onSendText() {
        if (!this.state.text.trim()) {
            return;
        }
        if (await this.act("/reply", { text: this.state.text })) {
            this.state.text = "";
        }
    }

    async onSendTemplate() {
        const choice = this.templates.find((t) => t.id === this.state.template);
        if (choice && (await this.act("/reply", { template: { name: choice.name, language: choice.language } }))) {
            this.state.template = "";
        }
    }

    async act(tail, params) {
        this.state.sending = true;
        this.state.error = null;
        try {
            await this.call(this.route(this.props, tail), params);
            await this.load();
            return true;
        } catch (error) {
            if (isWindowClosedError(error)) {
                this.state.forceTemplate = true;
            }
            this.state.error = error;
            return false;
        } finally {
            this.state.sending = false;
        }
    }
}
