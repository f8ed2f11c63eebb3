import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Accordion,
  Alert,
  Box,
  Button,
  Divider,
  Flex,
  Heading,
  Input,
  LoadingSpinner,
  ProgressBar,
  Select,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
  Tag,
  Text,
  TextArea,
} from '@hubspot/ui-extensions';
import type { AddAlertAction, CrmContext } from '@hubspot/ui-extensions';
import { useAssociations, useCrmProperties } from '@hubspot/ui-extensions/crm';
import { campaignView, optOutView } from './lib/campaign-logic.js';
import { COEX_SERVER_URL, INITIAL_MESSAGE_LIMIT, REFRESH_WHILE_BUSY_MS } from './lib/config.js';
import type { ApprovedTemplate, CampaignsResponse, TemplatesResponse, ThreadResponse } from './lib/contract.js';
import {
  CoexApiError,
  createCoexClient,
  describeCampaignsError,
  describeError,
  describeTemplatesError,
  MAX_TEXT_LENGTH,
  resolveServerUrl,
  type CoexClient,
  type CoexFetch,
  type Reply,
} from './lib/requests.js';
import { checkParameters, findTemplate, parameterFields, previewBody, templateListView } from './lib/template-logic.js';
import {
  botHistoryRows,
  botStateBadge,
  botToggle,
  buildTimeline,
  cardLanguage,
  composerMode,
  controlNotice,
  phoneCandidates,
  pickPhone,
  refreshDelayMs,
  syncView,
  windowBadge,
  type Badge,
  type BotAction,
  type CardLanguage,
} from './lib/thread-logic.js';

/** HubSpot's object type id for contacts; deals (0-3) and tickets (0-5) go through their associated contacts. */
const CONTACT_OBJECT_TYPE_ID = '0-1';

export interface CoexCardProps {
  context: CrmContext;
  /** `hubspot.fetch` in HubSpot; tests pass an emulation of it. */
  fetcher: CoexFetch;
  addAlert?: AddAlertAction;
  /** Overrides the profile variable / compiled URL (tests). */
  serverUrl?: string;
  refreshWhileBusyMs?: number;
  now?: () => Date;
}

interface PanelSettings {
  client: CoexClient;
  /** The HubSpot user's language: every word of the card comes from the shared catalogue in it. */
  lang: CardLanguage;
  timeZone: string | undefined;
  refreshWhileBusyMs: number;
  now: () => Date;
  addAlert: AddAlertAction | undefined;
}

const systemNow = (): Date => new Date();

/** The WhatsApp conversation of the record's phone: thread, bot, reply box, sync progress, campaign reports. */
export function CoexCard(props: CoexCardProps) {
  const { context, fetcher, serverUrl } = props;
  // HubSpot passes the user's own language setting (e.g. "fr", "ar-ma"); English when it does not.
  const locale = context.user.locale ?? context.user.language;
  const lang = useMemo(() => cardLanguage(locale), [locale]);
  const setup = useMemo(() => {
    try {
      return { client: createCoexClient({ serverUrl: serverUrl ?? resolveServerUrl(context.variables, COEX_SERVER_URL), fetch: fetcher }), problem: null };
    } catch (error) {
      return { client: null, problem: error instanceof Error ? error.message : String(error) };
    }
  }, [serverUrl, context.variables, fetcher]);

  if (!setup.client) {
    return (
      <Alert title={lang.t('card_not_configured')} variant="error">
        {setup.problem}
      </Alert>
    );
  }
  const settings: PanelSettings = {
    client: setup.client,
    lang,
    timeZone: context.portal.timezone,
    refreshWhileBusyMs: props.refreshWhileBusyMs ?? REFRESH_WHILE_BUSY_MS,
    now: props.now ?? systemNow,
    addAlert: props.addAlert,
  };
  return context.crm.objectTypeId === CONTACT_OBJECT_TYPE_ID ? <ContactThread {...settings} /> : <AssociatedContactThread {...settings} />;
}

function ContactThread(settings: PanelSettings) {
  const { t } = settings.lang;
  // Listed literally, not spread from PHONE_PROPERTIES: HubSpot's build reads these arrays to
  // prefetch the properties, and cannot see through a spread (test/card-source.test.ts checks they agree).
  const { properties, isLoading, error } = useCrmProperties(['hs_whatsapp_phone_number', 'mobilephone', 'phone']);
  if (isLoading) return <LoadingSpinner label={t('card_reading_phone')} layout="centered" />;
  if (error) {
    return (
      <Alert title={t('card_contact_failed')} variant="error">
        {error.message}
      </Alert>
    );
  }
  const picked = pickPhone(properties);
  if (!picked) {
    return (
      <Alert title={t('card_no_phone_title')} variant="info">
        {t('card_no_phone_body')}
      </Alert>
    );
  }
  return <ThreadPanel key={picked.phone} phone={picked.phone} {...settings} />;
}

function AssociatedContactThread(settings: PanelSettings) {
  const { t } = settings.lang;
  const { results, isLoading, error } = useAssociations({ toObjectType: CONTACT_OBJECT_TYPE_ID, properties: ['hs_whatsapp_phone_number', 'mobilephone', 'phone', 'firstname', 'lastname'], pageLength: 25 });
  const candidates = useMemo(() => phoneCandidates(results), [results]);
  const [chosen, setChosen] = useState<string | null>(null);

  if (isLoading) return <LoadingSpinner label={t('card_reading_associations')} layout="centered" />;
  if (error) {
    return (
      <Alert title={t('card_associations_failed')} variant="error">
        {error.message}
      </Alert>
    );
  }
  const phone = candidates.find((c) => c.phone === chosen)?.phone ?? candidates[0]?.phone;
  if (!phone) {
    return (
      <Alert title={t('card_no_associated_phone_title')} variant="info">
        {t('card_no_associated_phone_body')}
      </Alert>
    );
  }
  return (
    <Flex direction="column" gap="sm">
      {candidates.length > 1 && (
        <Select
          label={t('card_conversation_with')}
          name="coex-contact"
          value={phone}
          options={candidates.map((c) => ({ label: c.label, value: c.phone }))}
          onChange={(value) => setChosen(String(value))}
        />
      )}
      <ThreadPanel key={phone} phone={phone} {...settings} />
    </Flex>
  );
}

function BadgeTag({ badge, testId }: { badge: Badge; testId?: string }) {
  return (
    <Tag variant={badge.variant} testId={testId}>
      {badge.label}
    </Tag>
  );
}

type Pending = null | 'bot' | 'reply';

type Loadable<T> = { state: 'loading' } | { state: 'loaded'; data: T } | { state: 'failed'; error: string };

/**
 * One GET owned by a section of the card: loads on mount and whenever `load` changes, ignores
 * answers that arrive after a newer request or after unmount.
 */
function useLoadable<T>(load: () => Promise<T>, explain: (error: unknown) => string): { value: Loadable<T>; reload: () => Promise<void> } {
  const [value, setValue] = useState<Loadable<T>>({ state: 'loading' });
  const seq = useRef(0);
  const mounted = useRef(true);
  // State is written only after the await: the effect below must not set state synchronously
  // (react-hooks/set-state-in-effect; the first render already says "loading").
  const fetchInto = useCallback(
    async (mine: number) => {
      try {
        const data = await load();
        if (mounted.current && mine === seq.current) setValue({ state: 'loaded', data });
      } catch (error) {
        if (mounted.current && mine === seq.current) setValue({ state: 'failed', error: explain(error) });
      }
    },
    [load, explain],
  );
  const reload = useCallback(() => {
    const mine = ++seq.current;
    setValue((v) => (v.state === 'loaded' ? v : { state: 'loading' }));
    return fetchInto(mine);
  }, [fetchInto]);
  useEffect(() => {
    mounted.current = true;
    void fetchInto(++seq.current);
    return () => {
      mounted.current = false;
    };
  }, [fetchInto]);
  return { value, reload };
}

function ThreadPanel({ phone, client, lang, timeZone, refreshWhileBusyMs, now, addAlert }: PanelSettings & { phone: string }) {
  const { t } = lang;
  const [data, setData] = useState<ThreadResponse | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [refreshing, setRefreshing] = useState(true);
  const [serverRefusedText, setServerRefusedText] = useState(false);
  const [limit, setLimit] = useState(INITIAL_MESSAGE_LIMIT);
  const [pending, setPending] = useState<Pending>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  // Only the latest load may write state: a slow poll must not overwrite a newer manual refresh.
  const loadSeq = useRef(0);
  const mounted = useRef(true);

  const loadCampaigns = useCallback(() => client.loadCampaigns(phone), [client, phone]);
  const explainCampaigns = useCallback((error: unknown) => describeCampaignsError(error, lang), [lang]);
  const campaigns = useLoadable(loadCampaigns, explainCampaigns);

  // Writes state only after the await, so the mount effect sets no state synchronously
  // (react-hooks/set-state-in-effect); `refreshing` starts true for that first load.
  const fetchThread = useCallback(
    async (seq: number) => {
      try {
        const next = await client.loadThread(phone);
        if (!mounted.current || seq !== loadSeq.current) return;
        setData(next);
        setLoadError(null);
        setServerRefusedText(false);
      } catch (error) {
        if (!mounted.current || seq !== loadSeq.current) return;
        setLoadError(describeError(error, lang));
      } finally {
        if (mounted.current && seq === loadSeq.current) setRefreshing(false);
      }
    },
    [client, phone, lang],
  );
  const reload = useCallback(() => {
    const seq = ++loadSeq.current;
    setRefreshing(true);
    return fetchThread(seq);
  }, [fetchThread]);

  useEffect(() => {
    mounted.current = true;
    void fetchThread(++loadSeq.current);
    return () => {
      mounted.current = false;
    };
  }, [fetchThread]);

  useEffect(() => {
    if (!data) return;
    const delay = refreshDelayMs(data, refreshWhileBusyMs);
    if (delay === null) return;
    const timer = setTimeout(() => void reload(), delay);
    return () => clearTimeout(timer);
  }, [data, reload, refreshWhileBusyMs]);

  const thread = data?.thread ?? null;

  const onBot = async (action: BotAction) => {
    if (!thread) return;
    setPending('bot');
    setActionError(null);
    try {
      await client.setBot(thread.id, action);
      addAlert?.({ type: 'success', message: t(action === 'pause' ? 'card_alert_paused' : action === 'off' ? 'card_alert_off' : 'card_alert_resumed') });
      await reload();
    } catch (error) {
      setActionError(describeError(error, lang));
    } finally {
      setPending(null);
    }
  };

  /** Resolves true once the server accepted the message, so the composer can clear itself. */
  const onSend = async (reply: Reply): Promise<boolean> => {
    if (!thread) return false;
    setPending('reply');
    setActionError(null);
    try {
      await client.sendReply(thread.id, reply);
      if (reply.kind === 'text') setDraft('');
      addAlert?.({ type: 'success', message: reply.kind === 'text' ? t('card_alert_reply_sent') : t('card_alert_template_sent', { name: reply.name }) });
      await reload();
      return true;
    } catch (error) {
      if (error instanceof CoexApiError && error.code === 'window_closed') setServerRefusedText(true);
      setActionError(describeError(error, lang));
      return false;
    } finally {
      setPending(null);
    }
  };

  if (!data) {
    if (!loadError) return <LoadingSpinner label={t('card_loading_thread')} layout="centered" />;
    return (
      <Flex direction="column" gap="sm">
        <Alert title={t('card_thread_failed')} variant="error">
          {loadError}
        </Alert>
        <Box>
          <Button onClick={() => void reload()} disabled={refreshing} testId="coex-retry">
            {t('card_try_again')}
          </Button>
        </Box>
      </Flex>
    );
  }

  const currentTime = now();
  const control = thread ? controlNotice(thread, timeZone, lang) : null;
  const sync = syncView(data.sync, lang);
  const optOut = campaigns.value.state === 'loaded' ? optOutView(campaigns.value.data.opt_out, timeZone, lang) : null;

  return (
    <Flex direction="column" gap="md">
      <Flex justify="between" align="center" wrap>
        <Flex gap="xs" align="center" wrap>
          <Text format={{ fontWeight: 'bold' }}>{thread ? (thread.contact_name ?? `+${thread.wa_id}`) : phone}</Text>
          {thread && <BadgeTag badge={windowBadge(thread, currentTime, serverRefusedText, lang)} testId="coex-window" />}
          {thread && <BadgeTag badge={botStateBadge(thread.bot, timeZone, lang)} testId="coex-bot-state" />}
          {control && <BadgeTag badge={control.badge} testId="coex-control" />}
        </Flex>
        <Button
          size="sm"
          variant="secondary"
          onClick={() => {
            void reload();
            void campaigns.reload();
          }}
          disabled={refreshing}
          testId="coex-refresh"
        >
          {refreshing ? t('card_refreshing') : t('refresh')}
        </Button>
      </Flex>

      {control && (
        <Text variant="microcopy" testId="coex-control-detail">
          {control.since ? `${control.detail} (${control.since})` : control.detail}
        </Text>
      )}

      {optOut && (
        <Alert title={optOut.title} variant="warning" testId="coex-opt-out">
          {optOut.body}
        </Alert>
      )}

      {loadError && (
        <Alert title={t('card_refresh_failed')} variant="warning">
          {loadError}
        </Alert>
      )}

      {sync ? (
        <Flex direction="column" gap="xs">
          <Flex gap="xs" wrap>
            <BadgeTag badge={sync.history} testId="coex-history-sync" />
            <BadgeTag badge={sync.contacts} testId="coex-contacts-sync" />
          </Flex>
          {sync.history.progress !== null && <ProgressBar title={t('card_history_import')} value={sync.history.progress} maxValue={100} showPercentage testId="coex-history-progress" />}
          {sync.history.declined && (
            <Alert title={t('card_history_declined_title')} variant="info">
              {t('card_history_declined_body')}
            </Alert>
          )}
        </Flex>
      ) : (
        <BadgeTag badge={{ label: t('card_no_number'), variant: 'warning' }} testId="coex-no-number" />
      )}

      {actionError && (
        <Alert title={t('card_action_failed')} variant="error">
          {actionError}
        </Alert>
      )}

      {thread === null ? (
        <Text testId="coex-no-thread">{t('card_no_thread', { phone })}</Text>
      ) : (
        <>
          <BotSection bot={thread.bot} timeZone={timeZone} lang={lang} pending={pending} onBot={onBot} />
          <Divider />
          <TimelineSection data={data} timeZone={timeZone} lang={lang} now={currentTime} limit={limit} onShowMore={() => setLimit((l) => l + INITIAL_MESSAGE_LIMIT)} />
          <Divider />
          {composerMode(thread, currentTime, serverRefusedText).mode === 'template' ? (
            <TemplateComposer client={client} phoneNumberId={thread.phone_number_id} timeZone={timeZone} lang={lang} pending={pending} onSend={onSend} />
          ) : (
            <TextComposer lang={lang} pending={pending} draft={draft} setDraft={setDraft} onSend={onSend} />
          )}
        </>
      )}
      <Divider />
      <CampaignsSection campaigns={campaigns.value} reload={campaigns.reload} phone={phone} timeZone={timeZone} lang={lang} />
    </Flex>
  );
}

function BotSection({ bot, timeZone, lang, pending, onBot }: { bot: NonNullable<ThreadResponse['thread']>['bot']; timeZone: string | undefined; lang: CardLanguage; pending: Pending; onBot: (a: BotAction) => Promise<void> }) {
  const { t } = lang;
  const toggle = botToggle(bot.state, lang);
  const rows = botHistoryRows(bot.history, timeZone, 10, lang);
  return (
    <Flex direction="column" gap="sm">
      <Heading>{t('ai_agent')}</Heading>
      <Flex gap="sm" align="center" wrap>
        <Button size="sm" variant="primary" disabled={pending !== null} onClick={() => void onBot(toggle.primary.action)} testId="coex-bot-primary">
          {pending === 'bot' ? t('card_saving') : toggle.primary.label}
        </Button>
        {toggle.secondary && (
          <Button size="sm" variant="destructive" disabled={pending !== null} onClick={() => void onBot(toggle.secondary!.action)} testId="coex-bot-secondary">
            {toggle.secondary.label}
          </Button>
        )}
      </Flex>
      {rows.length > 0 && (
        <Table bordered={false} density="compact" testId="coex-bot-history">
          <TableHead>
            <TableRow>
              <TableHeader>{t('card_col_when')}</TableHeader>
              <TableHeader>{t('card_col_change')}</TableHeader>
              <TableHeader>{t('card_col_why')}</TableHeader>
              <TableHeader>{t('card_col_by')}</TableHeader>
            </TableRow>
          </TableHead>
          <TableBody>
            {rows.map((r, i) => (
              <TableRow key={`${r.at}-${i}`}>
                <TableCell>{r.at}</TableCell>
                <TableCell>{r.change}</TableCell>
                <TableCell>{r.cause}</TableCell>
                <TableCell>{r.actor}</TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </Flex>
  );
}

function TimelineSection({ data, timeZone, lang, now, limit, onShowMore }: { data: ThreadResponse; timeZone: string | undefined; lang: CardLanguage; now: Date; limit: number; onShowMore: () => void }) {
  const { t } = lang;
  const timeline = buildTimeline(data.messages, { timeZone, now, limit, lang });
  if (timeline.days.length === 0) return <Text>{t('card_no_messages')}</Text>;
  return (
    <Flex direction="column" gap="sm">
      <Heading>{t('card_conversation')}</Heading>
      {timeline.hidden > 0 && (
        <Box>
          <Button size="sm" variant="transparent" onClick={onShowMore} testId="coex-show-earlier">
            {t('card_show_earlier', { count: timeline.hidden })}
          </Button>
        </Box>
      )}
      <Table bordered={false} density="condensed" testId="coex-timeline">
        <TableHead>
          <TableRow>
            <TableHeader width="min">{t('card_col_time')}</TableHeader>
            <TableHeader width="min">{t('card_col_from')}</TableHeader>
            <TableHeader>{t('card_col_message')}</TableHeader>
          </TableRow>
        </TableHead>
        <TableBody>
          {timeline.days.flatMap((day) => [
            <TableRow key={`day-${day.key}`} testId={`coex-day-${day.key}`}>
              <TableCell colSpan={3}>
                <Text format={{ fontWeight: 'demibold' }}>{day.label}</Text>
              </TableCell>
            </TableRow>,
            ...day.entries.map((entry) => (
              <TableRow key={entry.id} testId={`coex-message-${entry.id}`}>
                <TableCell width="min">
                  <Text variant="microcopy">{entry.time}</Text>
                </TableCell>
                <TableCell width="min">
                  <Flex gap="xs" wrap>
                    {entry.badges.map((b) => (
                      <BadgeTag key={b.label} badge={b} />
                    ))}
                  </Flex>
                </TableCell>
                <TableCell>
                  <Text>{entry.body.text}</Text>
                  {entry.body.transcript && (
                    <Text variant="microcopy" format={{ italic: entry.body.transcript.state !== 'done' }} testId={`coex-transcript-${entry.id}`}>
                      {entry.body.transcript.state === 'done' ? t('transcript_line', { text: entry.body.transcript.text }) : entry.body.transcript.text}
                    </Text>
                  )}
                </TableCell>
              </TableRow>
            )),
          ])}
        </TableBody>
      </Table>
    </Flex>
  );
}

function TextComposer({ lang: { t }, pending, draft, setDraft, onSend }: { lang: CardLanguage; pending: Pending; draft: string; setDraft: (v: string) => void; onSend: (r: Reply) => Promise<boolean> }) {
  return (
    <Flex direction="column" gap="sm">
      <TextArea
        label={t('card_reply_label')}
        name="coex-reply"
        value={draft}
        onChange={setDraft}
        onInput={setDraft}
        maxLength={MAX_TEXT_LENGTH}
        rows={3}
        placeholder={t('card_reply_placeholder')}
        description={t('card_reply_description')}
        testId="coex-reply-text"
      />
      <Box>
        <Button variant="primary" disabled={pending !== null || draft.trim() === ''} onClick={() => void onSend({ kind: 'text', text: draft })} testId="coex-send-text">
          {pending === 'reply' ? t('card_sending') : t('send')}
        </Button>
      </Box>
    </Flex>
  );
}

interface TemplateComposerProps {
  client: CoexClient;
  /** The thread's business number; null lists the templates of every number of the workspace. */
  phoneNumberId: string | null;
  timeZone: string | undefined;
  lang: CardLanguage;
  pending: Pending;
  onSend: (r: Reply) => Promise<boolean>;
}

/** The approved templates of the thread's WhatsApp Business Account, read from the server when the window is closed. */
function TemplateComposer({ client, phoneNumberId, timeZone, lang, pending, onSend }: TemplateComposerProps) {
  const { t } = lang;
  const loadTemplates = useCallback(() => client.loadTemplates(phoneNumberId), [client, phoneNumberId]);
  const explainTemplates = useCallback((error: unknown) => describeTemplatesError(error, lang), [lang]);
  const templates = useLoadable<TemplatesResponse>(loadTemplates, explainTemplates);
  const [chosenValue, setChosenValue] = useState<string | null>(null);
  const [values, setValues] = useState<Record<string, string>>({});
  const [problems, setProblems] = useState<Record<string, string>>({});

  const header = (
    <Alert title={t('card_window_closed_title')} variant="warning">
      {t('card_window_closed_body')}
    </Alert>
  );
  const reloadButton = (label: string) => (
    <Box>
      <Button size="sm" variant="secondary" onClick={() => void templates.reload()} testId="coex-templates-retry">
        {label}
      </Button>
    </Box>
  );

  if (templates.value.state === 'loading') {
    return (
      <Flex direction="column" gap="sm">
        {header}
        <LoadingSpinner label={t('templates_loading')} />
      </Flex>
    );
  }
  if (templates.value.state === 'failed') {
    return (
      <Flex direction="column" gap="sm">
        {header}
        <Alert title={t('approved_templates_failed')} variant="error" testId="coex-templates-error">
          {templates.value.error}
        </Alert>
        {reloadButton(t('card_try_again'))}
      </Flex>
    );
  }

  const list = templates.value.data;
  const view = templateListView(list, timeZone, lang);
  const chosen: ApprovedTemplate | null = findTemplate(list.templates, chosenValue);
  const fields = chosen ? parameterFields(chosen, lang) : [];
  const preview = chosen ? previewBody(chosen, values) : null;

  const choose = (value: string) => {
    setChosenValue(value);
    setValues({});
    setProblems({});
  };
  const setValue = (name: string, value: string) => {
    setValues((v) => ({ ...v, [name]: value }));
    setProblems((p) => {
      if (!(name in p)) return p;
      const { [name]: _fixed, ...rest } = p;
      return rest;
    });
  };
  const send = async () => {
    if (!chosen) return;
    const check = checkParameters(chosen, values, lang);
    if (!check.ok) {
      setProblems(check.problems);
      return;
    }
    const sent = await onSend({ kind: 'template', name: chosen.name, language: chosen.language, ...(check.bodyParameters ? { bodyParameters: check.bodyParameters } : {}) });
    if (sent) {
      setChosenValue(null);
      setValues({});
    }
  };

  return (
    <Flex direction="column" gap="sm">
      {header}
      {view.stale && <BadgeTag badge={view.stale} testId="coex-templates-stale" />}
      {view.empty !== null ? (
        <>
          <Text testId="coex-templates-empty">{view.empty}</Text>
          {view.unsendable && <Text variant="microcopy">{view.unsendable}</Text>}
          {reloadButton(t('card_reload_templates'))}
        </>
      ) : (
        <>
          <Select
            label={t('template_label')}
            name="coex-template"
            placeholder={t('choose_approved_template')}
            options={view.options}
            {...(chosenValue !== null ? { value: chosenValue } : {})}
            onChange={(value) => choose(String(value))}
            testId="coex-template-select"
          />
          {view.unsendable && (
            <Text variant="microcopy" testId="coex-templates-unsendable">
              {view.unsendable}
            </Text>
          )}
          {preview !== null && (
            <Flex direction="column" gap="xs">
              <Text variant="microcopy">{t('preview')}</Text>
              <Text format={{ italic: true }} testId="coex-template-preview">
                {preview}
              </Text>
            </Flex>
          )}
          {fields.map((field) => (
            <Input
              key={`${chosenValue ?? ''}/${field.name}`}
              label={field.label}
              name={`coex-template-param-${field.name}`}
              value={values[field.name] ?? ''}
              onChange={(v) => setValue(field.name, v)}
              onInput={(v) => setValue(field.name, v)}
              required
              error={problems[field.name] !== undefined}
              {...(problems[field.name] !== undefined ? { validationMessage: problems[field.name] } : {})}
              testId={`coex-template-param-${field.name}`}
            />
          ))}
          <Box>
            <Button variant="primary" disabled={pending !== null || chosen === null} onClick={() => void send()} testId="coex-send-template">
              {pending === 'reply' ? t('card_sending') : t('send_template')}
            </Button>
          </Box>
        </>
      )}
    </Flex>
  );
}

/** The template campaigns that included this customer, newest first, each collapsible. */
function CampaignsSection({ campaigns, reload, phone, timeZone, lang }: { campaigns: Loadable<CampaignsResponse>; reload: () => Promise<void>; phone: string; timeZone: string | undefined; lang: CardLanguage }) {
  const { t } = lang;
  let body;
  if (campaigns.state === 'loading') body = <LoadingSpinner label={t('campaign_reports_loading')} />;
  else if (campaigns.state === 'failed') {
    body = (
      <Flex direction="column" gap="xs">
        <Alert title={t('campaign_reports_failed')} variant="warning" testId="coex-campaigns-error">
          {campaigns.error}
        </Alert>
        <Box>
          <Button size="sm" variant="secondary" onClick={() => void reload()} testId="coex-campaigns-retry">
            {t('card_try_again')}
          </Button>
        </Box>
      </Flex>
    );
  } else if (campaigns.data.campaigns.length === 0) {
    body = <Text testId="coex-campaigns-none">{t('card_no_campaign', { phone })}</Text>;
  } else {
    body = campaigns.data.campaigns.map((c, i) => {
      const v = campaignView(c, timeZone, lang);
      return (
        <Accordion key={v.id} title={v.title} size="sm" defaultOpen={i === 0} testId={`coex-campaign-${v.id}`}>
          <Flex direction="column" gap="xs">
            <Flex gap="xs" wrap>
              {v.outcome && <BadgeTag badge={v.outcome.badge} testId={`coex-campaign-outcome-${v.id}`} />}
              {v.replied && <BadgeTag badge={{ label: t('replied'), variant: 'success' }} testId={`coex-campaign-replied-${v.id}`} />}
              <BadgeTag badge={v.status} testId={`coex-campaign-status-${v.id}`} />
            </Flex>
            {v.outcome?.detail && (
              <Text variant="microcopy" testId={`coex-campaign-error-${v.id}`}>
                {v.outcome.detail}
              </Text>
            )}
            <Text variant="microcopy">{t('card_campaign_template_when', { template: v.template, when: v.when })}</Text>
            <Text testId={`coex-campaign-totals-${v.id}`}>{v.totals}</Text>
            {v.failures && <Text variant="microcopy" testId={`coex-campaign-failures-${v.id}`}>{t('card_top_failures', { failures: v.failures })}</Text>}
          </Flex>
        </Accordion>
      );
    });
  }
  return (
    <Flex direction="column" gap="sm" testId="coex-campaigns">
      <Heading>{t('campaigns')}</Heading>
      {body}
    </Flex>
  );
}
