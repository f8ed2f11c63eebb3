/** @odoo-module **/
import { Component, onWillStart, onWillUpdateProps, useEffect, useRef, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import {
    botView,
    buildTimeline,
    campaignsView,
    composerMode,
    controlView,
    isWindowClosedError,
    jsonRpcBody,
    nextScrollTop,
    syncView,
    templateChoices,
    templateMessage,
    templateParameterProblem,
    templatePreview,
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
        control_meta_agent: _t("Meta's AI agent is handling this chat"),
        control_other_app: _t("Another app is handling this chat"),
        control_meta_agent_detail: _t("CoEx's agent stays silent while Meta's agent has this chat. A text reply sent from here takes it back once WhatsApp accepts it (a template does not); CoEx's agent then stays paused for its quiet period, as after any reply from a person."),
        control_other_app_detail: _t("CoEx's agent stays silent while the other app has this chat. A text reply sent from here takes it back once WhatsApp accepts it (a template does not); CoEx's agent then stays paused for its quiet period, as after any reply from a person."),
        control_since: _t("since"),
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
        templates_loading: _t("Loading the approved templates…"),
        templates_failed: _t("The approved templates could not be loaded:"),
        no_templates: _t("This WhatsApp number has no approved template that can be sent from here."),
        unsendable_hidden: _t("Templates hidden because they need media, button values or a code:"),
        templates_stale: _t("WhatsApp could not be reached: this is the last template list CoEx saw."),
        retry: _t("Retry"),
        preview: _t("Preview"),
        param_required: _t("Required"),
        param_whitespace: _t("No line breaks, tabs or more than 4 spaces in a row"),
        param_too_long: _t("At most 1024 characters"),
        paused_until: _t("Paused until"),
        closes_in: _t("Window closes in (minutes):"),
        refresh: _t("Refresh"),
        campaigns: _t("Campaigns"),
        campaigns_loading: _t("Loading campaigns…"),
        campaigns_failed: _t("Campaigns could not be loaded:"),
        no_campaigns: _t("No campaign included this customer yet."),
        campaign_draft: _t("Draft"),
        campaign_scheduled: _t("Scheduled"),
        campaign_running: _t("Running"),
        campaign_paused: _t("Paused"),
        campaign_completed: _t("Completed"),
        outcome_sent: _t("Sent"),
        outcome_delivered: _t("Delivered"),
        outcome_read: _t("Read"),
        outcome_failed: _t("Failed"),
        outcome_pending: _t("Not sent yet"),
        outcome_skipped: _t("Skipped"),
        replied: _t("Replied"),
        totals_sent: _t("sent"),
        totals_delivered: _t("delivered"),
        totals_read: _t("read"),
        totals_failed: _t("failed"),
        totals_replied: _t("replied"),
        totals_recipients: _t("recipients"),
        opt_out: _t("Opted out of marketing messages"),
        opt_out_keyword: _t("replied a stop keyword"),
        opt_out_api: _t("recorded through the API"),
        opt_out_crm: _t("recorded from a CRM"),
        opt_out_meta: _t("WhatsApp reported the customer stopped marketing messages (131050)"),
        opt_out_whatsapp: _t("stopped promotions in WhatsApp"),
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
            templateValues: {},
            forceTemplate: false,
            // GET /templates, fetched the first time the composer needs a template.
            templates: { loading: false, error: null, data: null, phoneNumberId: null },
            campaigns: { loading: false, error: null, data: null },
        });
        this.timelineRef = useRef("timeline");
        // Why the next render of the timeline happens: "load", "sent" or "refresh" (see nextScrollTop).
        this.scrollReason = "load";
        this.scrollBefore = null;
        onWillStart(() => this.load(this.props, "load"));
        onWillUpdateProps((next) => {
            if (next.model !== this.props.model || next.resId !== this.props.resId) {
                return this.load(next, "load");
            }
        });
        // After the DOM shows a new payload: newest message in view, unless the user scrolled up
        // to read and this is only a refresh.
        useEffect(
            () => {
                const el = this.timelineRef.el;
                if (el && this.state.payload) {
                    el.scrollTop = nextScrollTop(this.scrollReason, this.scrollBefore, el);
                }
            },
            () => [this.state.payload]
        );
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

    /** reason: "load" (new record), "refresh" (button, bot toggle) or "sent" (own reply). */
    async load(props = this.props, reason = "refresh") {
        const el = this.timelineRef.el;
        this.scrollBefore = el ? { scrollTop: el.scrollTop, scrollHeight: el.scrollHeight, clientHeight: el.clientHeight } : null;
        this.scrollReason = reason;
        if (reason === "load") {
            this.state.loading = true;
            this.state.templates = { loading: false, error: null, data: null, phoneNumberId: null };
        }
        this.state.error = null;
        // Campaigns and templates fill their own blocks when they arrive; the thread does not wait.
        this.loadCampaigns(props);
        try {
            this.state.payload = await this.call(this.route(props), {});
        } catch (error) {
            this.state.payload = null;
            this.state.error = error;
        } finally {
            this.state.loading = false;
        }
        this.loadTemplatesIfNeeded(props);
    }

    async loadCampaigns(props = this.props) {
        this.state.campaigns = { ...this.state.campaigns, loading: true, error: null };
        try {
            const data = await this.call(this.route(props, "/campaigns"), {});
            this.state.campaigns = { loading: false, error: null, data };
        } catch (error) {
            this.state.campaigns = { loading: false, error, data: null };
        }
    }

    /** Templates are only fetched when the composer shows the picker, once per number. */
    async loadTemplatesIfNeeded(props = this.props, { force = false } = {}) {
        const phoneNumberId = this.state.payload?.thread?.phone_number_id || null;
        const current = this.state.templates;
        if (this.composer.mode !== "template" || current.loading) {
            return;
        }
        if (!force && current.data && current.phoneNumberId === phoneNumberId) {
            return;
        }
        this.state.templates = { loading: true, error: null, data: null, phoneNumberId };
        try {
            const data = await this.call(this.route(props, "/templates"), { phone_number_id: phoneNumberId });
            this.state.templates = { loading: false, error: null, data, phoneNumberId };
        } catch (error) {
            this.state.templates = { loading: false, error, data: null, phoneNumberId };
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

    /** Meta's agent or another app holds the chat (CoEx's agent is silent); null while CoEx holds it. */
    get control() {
        return controlView(this.state.payload?.thread?.control);
    }

    get sync() {
        return syncView(this.state.payload?.sync);
    }

    get templates() {
        return templateChoices(this.state.templates.data);
    }

    get chosenTemplate() {
        return this.templates.choices.find((t) => t.id === this.state.template) || null;
    }

    get templatePreviewSegments() {
        return templatePreview(this.chosenTemplate, this.state.templateValues).segments;
    }

    get templateToSend() {
        return templateMessage(this.chosenTemplate, this.state.templateValues);
    }

    get campaigns() {
        return campaignsView(this.state.campaigns.data);
    }

    paramProblem(name) {
        const key = templateParameterProblem(this.state.templateValues[name]);
        return key ? this.labels[key] : "";
    }

    onTemplateChange(ev) {
        this.state.template = ev.target.value;
        this.state.templateValues = {};
    }

    onParamInput(name, ev) {
        this.state.templateValues = { ...this.state.templateValues, [name]: ev.target.value };
    }

    retryTemplates() {
        return this.loadTemplatesIfNeeded(this.props, { force: true });
    }

    campaignStatusLabel(campaign) {
        return campaign.statusKey ? this.labels[campaign.statusKey] : campaign.status;
    }

    optOutSourceLabel(optOut) {
        return optOut.sourceKey ? this.labels[optOut.sourceKey] : optOut.source;
    }

    formatDate(ms) {
        return ms ? new Date(ms).toLocaleDateString() : "";
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
        await this.act("/bot", { action }, "refresh");
    }

    async onSendText() {
        if (!this.state.text.trim()) {
            return;
        }
        if (await this.act("/reply", { text: this.state.text }, "sent")) {
            this.state.text = "";
        }
    }

    async onSendTemplate() {
        const template = this.templateToSend;
        if (template && (await this.act("/reply", { template }, "sent"))) {
            this.state.template = "";
            this.state.templateValues = {};
        }
    }

    async act(tail, params, reason = "refresh") {
        this.state.sending = true;
        this.state.error = null;
        try {
            await this.call(this.route(this.props, tail), params);
            await this.load(this.props, reason);
            return true;
        } catch (error) {
            if (isWindowClosedError(error)) {
                this.state.forceTemplate = true;
                await this.loadTemplatesIfNeeded();
            }
            this.state.error = error;
            return false;
        } finally {
            this.state.sending = false;
        }
    }
}
