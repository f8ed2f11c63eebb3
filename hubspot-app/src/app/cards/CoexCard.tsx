import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  Alert,
  Box,
  Button,
  Divider,
  Flex,
  Heading,
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
import { COEX_SERVER_URL, FALLBACK_TEMPLATES, INITIAL_MESSAGE_LIMIT, REFRESH_WHILE_BUSY_MS } from './lib/config.js';
import type { TemplateChoice, ThreadResponse } from './lib/contract.js';
import { CoexApiError, createCoexClient, describeError, MAX_TEXT_LENGTH, resolveServerUrl, type CoexClient, type CoexFetch, type Reply } from './lib/requests.js';
import {
  botHistoryRows,
  botStateBadge,
  botToggle,
  buildTimeline,
  composerMode,
  parseTemplateValue,
  PHONE_PROPERTIES,
  phoneCandidates,
  pickPhone,
  refreshDelayMs,
  syncView,
  templateOptions,
  windowBadge,
  type Badge,
  type BotAction,
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
  /** Overrides FALLBACK_TEMPLATES from lib/config.ts. */
  templates?: readonly TemplateChoice[];
  refreshWhileBusyMs?: number;
  now?: () => Date;
}

interface PanelSettings {
  client: CoexClient;
  timeZone: string | undefined;
  templates: readonly TemplateChoice[];
  refreshWhileBusyMs: number;
  now: () => Date;
  addAlert: AddAlertAction | undefined;
}

const systemNow = (): Date => new Date();

/** The WhatsApp conversation of the record's phone: thread, bot, reply box, sync progress. */
export function CoexCard(props: CoexCardProps) {
  const { context, fetcher, serverUrl } = props;
  const setup = useMemo(() => {
    try {
      return { client: createCoexClient({ serverUrl: serverUrl ?? resolveServerUrl(context.variables, COEX_SERVER_URL), fetch: fetcher }), problem: null };
    } catch (error) {
      return { client: null, problem: error instanceof Error ? error.message : String(error) };
    }
  }, [serverUrl, context.variables, fetcher]);

  if (!setup.client) {
    return (
      <Alert title="The CoEx card is not configured" variant="error">
        {setup.problem}
      </Alert>
    );
  }
  const settings: PanelSettings = {
    client: setup.client,
    timeZone: context.portal.timezone,
    templates: props.templates ?? FALLBACK_TEMPLATES,
    refreshWhileBusyMs: props.refreshWhileBusyMs ?? REFRESH_WHILE_BUSY_MS,
    now: props.now ?? systemNow,
    addAlert: props.addAlert,
  };
  return context.crm.objectTypeId === CONTACT_OBJECT_TYPE_ID ? <ContactThread {...settings} /> : <AssociatedContactThread {...settings} />;
}

function ContactThread(settings: PanelSettings) {
  const { properties, isLoading, error } = useCrmProperties([...PHONE_PROPERTIES]);
  if (isLoading) return <LoadingSpinner label="Reading the contact's phone number" layout="centered" />;
  if (error) {
    return (
      <Alert title="Could not read this contact" variant="error">
        {error.message}
      </Alert>
    );
  }
  const picked = pickPhone(properties);
  if (!picked) {
    return (
      <Alert title="No phone number on this contact" variant="info">
        Add a WhatsApp number, mobile phone or phone number to this contact to see its WhatsApp conversation.
      </Alert>
    );
  }
  return <ThreadPanel key={picked.phone} phone={picked.phone} {...settings} />;
}

function AssociatedContactThread(settings: PanelSettings) {
  const { results, isLoading, error } = useAssociations({ toObjectType: CONTACT_OBJECT_TYPE_ID, properties: [...PHONE_PROPERTIES, 'firstname', 'lastname'], pageLength: 25 });
  const candidates = useMemo(() => phoneCandidates(results), [results]);
  const [chosen, setChosen] = useState<string | null>(null);

  if (isLoading) return <LoadingSpinner label="Reading the associated contacts" layout="centered" />;
  if (error) {
    return (
      <Alert title="Could not read the associated contacts" variant="error">
        {error.message}
      </Alert>
    );
  }
  const phone = candidates.find((c) => c.phone === chosen)?.phone ?? candidates[0]?.phone;
  if (!phone) {
    return (
      <Alert title="No contact with a phone number" variant="info">
        Associate a contact that has a WhatsApp number, mobile phone or phone number to see the conversation here.
      </Alert>
    );
  }
  return (
    <Flex direction="column" gap="sm">
      {candidates.length > 1 && (
        <Select
          label="Conversation with"
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

function ThreadPanel({ phone, client, timeZone, templates, refreshWhileBusyMs, now, addAlert }: PanelSettings & { phone: string }) {
  const [data, setData] = useState<ThreadResponse | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [refreshing, setRefreshing] = useState(false);
  const [serverRefusedText, setServerRefusedText] = useState(false);
  const [limit, setLimit] = useState(INITIAL_MESSAGE_LIMIT);
  const [pending, setPending] = useState<Pending>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [draft, setDraft] = useState('');
  const [templateValue, setTemplateValue] = useState<string | null>(null);
  // Only the latest load may write state: a slow poll must not overwrite a newer manual refresh.
  const loadSeq = useRef(0);
  const mounted = useRef(true);

  const reload = useCallback(async () => {
    const seq = ++loadSeq.current;
    setRefreshing(true);
    try {
      const next = await client.loadThread(phone);
      if (!mounted.current || seq !== loadSeq.current) return;
      setData(next);
      setLoadError(null);
      setServerRefusedText(false);
    } catch (error) {
      if (!mounted.current || seq !== loadSeq.current) return;
      setLoadError(describeError(error));
    } finally {
      if (mounted.current && seq === loadSeq.current) setRefreshing(false);
    }
  }, [client, phone]);

  useEffect(() => {
    mounted.current = true;
    void reload();
    return () => {
      mounted.current = false;
    };
  }, [reload]);

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
      addAlert?.({ type: 'success', message: action === 'pause' ? 'Bot paused for this conversation.' : action === 'off' ? 'Bot turned off for this conversation.' : 'Bot resumed for this conversation.' });
      await reload();
    } catch (error) {
      setActionError(describeError(error));
    } finally {
      setPending(null);
    }
  };

  const onSend = async (reply: Reply) => {
    if (!thread) return;
    setPending('reply');
    setActionError(null);
    try {
      await client.sendReply(thread.id, reply);
      if (reply.kind === 'text') setDraft('');
      else setTemplateValue(null);
      addAlert?.({ type: 'success', message: reply.kind === 'text' ? 'Reply sent on WhatsApp.' : `Template "${reply.name}" sent on WhatsApp.` });
      await reload();
    } catch (error) {
      if (error instanceof CoexApiError && error.code === 'window_closed') setServerRefusedText(true);
      setActionError(describeError(error));
    } finally {
      setPending(null);
    }
  };

  if (!data) {
    if (!loadError) return <LoadingSpinner label="Loading the WhatsApp conversation" layout="centered" />;
    return (
      <Flex direction="column" gap="sm">
        <Alert title="Could not load the WhatsApp conversation" variant="error">
          {loadError}
        </Alert>
        <Box>
          <Button onClick={() => void reload()} disabled={refreshing} testId="coex-retry">
            Try again
          </Button>
        </Box>
      </Flex>
    );
  }

  const currentTime = now();
  const sync = syncView(data.sync);

  return (
    <Flex direction="column" gap="md">
      <Flex justify="between" align="center" wrap>
        <Flex gap="xs" align="center" wrap>
          <Text format={{ fontWeight: 'bold' }}>{thread ? (thread.contact_name ?? `+${thread.wa_id}`) : phone}</Text>
          {thread && <BadgeTag badge={windowBadge(thread, currentTime, serverRefusedText)} testId="coex-window" />}
          {thread && <BadgeTag badge={botStateBadge(thread.bot, timeZone)} testId="coex-bot-state" />}
        </Flex>
        <Button size="sm" variant="secondary" onClick={() => void reload()} disabled={refreshing} testId="coex-refresh">
          {refreshing ? 'Refreshing…' : 'Refresh'}
        </Button>
      </Flex>

      {loadError && (
        <Alert title="Refresh failed" variant="warning">
          {loadError}
        </Alert>
      )}

      {sync ? (
        <Flex direction="column" gap="xs">
          <Flex gap="xs" wrap>
            <BadgeTag badge={sync.history} testId="coex-history-sync" />
            <BadgeTag badge={sync.contacts} testId="coex-contacts-sync" />
          </Flex>
          {sync.history.progress !== null && <ProgressBar title="Chat history import" value={sync.history.progress} maxValue={100} showPercentage testId="coex-history-progress" />}
          {sync.history.declined && (
            <Alert title="No chat history from the phone" variant="info">
              The owner chose not to share past WhatsApp chats when connecting the number. Only messages from the connection onwards are shown.
            </Alert>
          )}
        </Flex>
      ) : (
        <BadgeTag badge={{ label: 'No WhatsApp number connected to CoEx yet', variant: 'warning' }} testId="coex-no-number" />
      )}

      {actionError && (
        <Alert title="That did not work" variant="error">
          {actionError}
        </Alert>
      )}

      {thread === null ? (
        <Text testId="coex-no-thread">No WhatsApp conversation with {phone} yet.</Text>
      ) : (
        <>
          <BotSection bot={thread.bot} timeZone={timeZone} pending={pending} onBot={onBot} />
          <Divider />
          <TimelineSection data={data} timeZone={timeZone} now={currentTime} limit={limit} onShowMore={() => setLimit((l) => l + INITIAL_MESSAGE_LIMIT)} />
          <Divider />
          <ComposerSection
            mode={composerMode(thread, currentTime, serverRefusedText).mode}
            pending={pending}
            draft={draft}
            setDraft={setDraft}
            templateOptions={templateOptions(data.templates, templates)}
            templateValue={templateValue}
            setTemplateValue={setTemplateValue}
            onSend={onSend}
          />
        </>
      )}
    </Flex>
  );
}

function BotSection({ bot, timeZone, pending, onBot }: { bot: NonNullable<ThreadResponse['thread']>['bot']; timeZone: string | undefined; pending: Pending; onBot: (a: BotAction) => Promise<void> }) {
  const toggle = botToggle(bot.state);
  const rows = botHistoryRows(bot.history, timeZone);
  return (
    <Flex direction="column" gap="sm">
      <Heading>AI agent</Heading>
      <Flex gap="sm" align="center" wrap>
        <Button size="sm" variant="primary" disabled={pending !== null} onClick={() => void onBot(toggle.primary.action)} testId="coex-bot-primary">
          {pending === 'bot' ? 'Saving…' : toggle.primary.label}
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
              <TableHeader>When</TableHeader>
              <TableHeader>Change</TableHeader>
              <TableHeader>Why</TableHeader>
              <TableHeader>By</TableHeader>
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

function TimelineSection({ data, timeZone, now, limit, onShowMore }: { data: ThreadResponse; timeZone: string | undefined; now: Date; limit: number; onShowMore: () => void }) {
  const timeline = buildTimeline(data.messages, { timeZone, now, limit });
  if (timeline.days.length === 0) return <Text>No messages yet.</Text>;
  return (
    <Flex direction="column" gap="sm">
      <Heading>Conversation</Heading>
      {timeline.hidden > 0 && (
        <Box>
          <Button size="sm" variant="transparent" onClick={onShowMore} testId="coex-show-earlier">
            {`Show earlier messages (${timeline.hidden})`}
          </Button>
        </Box>
      )}
      <Table bordered={false} density="condensed" testId="coex-timeline">
        <TableHead>
          <TableRow>
            <TableHeader width="min">Time</TableHeader>
            <TableHeader width="min">From</TableHeader>
            <TableHeader>Message</TableHeader>
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
                      {entry.body.transcript.state === 'done' ? `Transcript: ${entry.body.transcript.text}` : entry.body.transcript.text}
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

interface ComposerProps {
  mode: 'none' | 'text' | 'template';
  pending: Pending;
  draft: string;
  setDraft: (v: string) => void;
  templateOptions: { label: string; value: string }[];
  templateValue: string | null;
  setTemplateValue: (v: string | null) => void;
  onSend: (r: Reply) => Promise<void>;
}

function ComposerSection({ mode, pending, draft, setDraft, templateOptions: options, templateValue, setTemplateValue, onSend }: ComposerProps) {
  if (mode === 'none') return null;
  if (mode === 'text') {
    return (
      <Flex direction="column" gap="sm">
        <TextArea
          label="Reply on WhatsApp"
          name="coex-reply"
          value={draft}
          onChange={setDraft}
          onInput={setDraft}
          maxLength={MAX_TEXT_LENGTH}
          rows={3}
          placeholder="Type a reply"
          description="Sending a reply pauses the AI agent for this conversation."
          testId="coex-reply-text"
        />
        <Box>
          <Button variant="primary" disabled={pending !== null || draft.trim() === ''} onClick={() => void onSend({ kind: 'text', text: draft })} testId="coex-send-text">
            {pending === 'reply' ? 'Sending…' : 'Send'}
          </Button>
        </Box>
      </Flex>
    );
  }
  const chosen = parseTemplateValue(templateValue);
  return (
    <Flex direction="column" gap="sm">
      <Alert title="24-hour window closed" variant="warning">
        WhatsApp accepts only approved templates until the customer writes again.
      </Alert>
      {options.length === 0 ? (
        <Text>No templates are configured for this card.</Text>
      ) : (
        <>
          <Select
            label="Template"
            name="coex-template"
            placeholder="Choose an approved template"
            options={options}
            {...(templateValue !== null ? { value: templateValue } : {})}
            onChange={(value) => setTemplateValue(String(value))}
            testId="coex-template-select"
          />
          <Box>
            <Button variant="primary" disabled={pending !== null || chosen === null} onClick={() => {
                if (chosen) void onSend({ kind: 'template', ...chosen });
              }} testId="coex-send-template">
              {pending === 'reply' ? 'Sending…' : 'Send template'}
            </Button>
          </Box>
        </>
      )}
    </Flex>
  );
}
