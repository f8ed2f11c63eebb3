import { afterEach, describe, expect, it } from 'vitest';
import { Alert, Button, LoadingSpinner, ProgressBar, Select, TableRow, Tag, Text, TextArea } from '@hubspot/ui-extensions';
import type { CrmContext, TextAreaProps } from '@hubspot/ui-extensions';
import { createRenderer, RenderedNodeType, type RenderedElementNode } from '@hubspot/ui-extensions/testing';
import { CoexCard } from './CoexCard.js';
import { emulateHubSpotFetch, startCoexExtApiStub, type CoexExtApiStub, type StubSync, type StubThread } from '../../../test/coex-ext-api-stub.js';
import { SAMPLE_NOW, msg, sampleThread } from '../../../test/fixtures.js';

/*
 * The React card rendered with HubSpot's own testing utilities (@hubspot/ui-extensions/testing:
 * createRenderer, mocked CRM hooks and actions), talking through an emulation of hubspot.fetch to
 * a real HTTP stand-in of the CoEx extension API.
 */

const WAIT = { timeoutInMs: 5_000 };
const SALMA = '+212612345678';

/** The sample without its voice note in transcription, so the card has no reason to poll. */
function settledThread(overrides: Partial<StubThread> = {}): StubThread {
  const t = sampleThread(overrides);
  return { ...t, messages: t.messages.filter((m) => m.id !== 'm7') };
}

let stubs: CoexExtApiStub[] = [];
afterEach(async () => {
  await Promise.all(stubs.map((s) => s.close()));
  stubs = [];
});

async function renderCard(opts: {
  threads?: Record<string, StubThread>;
  sync?: StubSync;
  objectTypeId?: string;
  properties?: Record<string, string | null>;
  associations?: { toObjectId: number; properties: Record<string, string | null> }[];
  serverUrl?: string;
  refreshWhileBusyMs?: number;
  beforeRender?: (stub: CoexExtApiStub) => void;
}) {
  const stub = await startCoexExtApiStub({ threads: opts.threads ?? { [SALMA]: settledThread() }, ...(opts.sync !== undefined ? { sync: opts.sync } : {}) });
  stubs.push(stub);
  opts.beforeRender?.(stub);
  const hs = emulateHubSpotFetch({ permittedUrls: [stub.url] });
  const renderer = createRenderer('crm.record.tab');
  const properties = opts.properties ?? { hs_whatsapp_phone_number: SALMA };
  renderer.mocks.useCrmProperties.willCall((names) => ({
    properties: Object.fromEntries(names.map((n) => [n, properties[n] ?? null])),
    error: null,
    isLoading: false,
    isRefetching: false,
    refetch: async () => {},
  }));
  if (opts.associations) {
    const results = opts.associations.map((a) => ({ ...a, associationTypes: [] }));
    renderer.mocks.useAssociations.willCall(() => ({
      results,
      error: null,
      isLoading: false,
      isRefetching: false,
      refetch: async () => {},
      pagination: { hasNextPage: false, hasPreviousPage: false, currentPage: 1, pageSize: 25, nextPage: () => {}, previousPage: () => {}, reset: () => {} },
    }));
  }
  const base = renderer.mocks.context as CrmContext;
  const context: CrmContext = { ...base, crm: { objectId: 42, objectTypeId: opts.objectTypeId ?? '0-1' }, portal: { ...base.portal, timezone: 'UTC' } };
  renderer.render(
    <CoexCard
      context={context}
      fetcher={hs.fetch}
      serverUrl={opts.serverUrl ?? stub.url}
      addAlert={renderer.mocks.actions.addAlert}
      now={() => SAMPLE_NOW}
      refreshWhileBusyMs={opts.refreshWhileBusyMs ?? 60_000}
    />,
  );
  return { renderer, stub, hs };
}

/** All text under a node; the SDK's `.text` holds only a node's direct text children. */
interface TextTree {
  nodeType: RenderedNodeType;
  text: string | null;
  childNodes?: readonly TextTree[];
}
function textOf(node: TextTree): string {
  if (node.nodeType === RenderedNodeType.Text) return node.text ?? '';
  return (node.childNodes ?? []).map(textOf).join(' ');
}

const tagsOf = (row: Pick<RenderedElementNode, 'findAll'>) => row.findAll(Tag).map((t) => t.text);

/** The SDK (0.17.0) types trigger()'s argument as the handler itself; handlers of inputs take the value. */
function typeInto(node: RenderedElementNode<TextAreaProps>, value: string): void {
  node.trigger('onInput', value as never);
}

describe('CoexCard on a contact', () => {
  it('shows the thread of the WhatsApp number with origin badges, days and transcripts', async () => {
    const { renderer, stub } = await renderCard({ properties: { phone: '+33 1 23 45 67 89', hs_whatsapp_phone_number: '+212 612 345 678' } });
    expect(renderer.find(LoadingSpinner).props.label).toBe('Loading the WhatsApp conversation');
    await renderer.waitFor(() => expect(renderer.findByTestId(TableRow, 'coex-message-m2')).toBeTruthy(), WAIT);

    // The WhatsApp property wins over `phone`; HubSpot's proxy adds the portal and user.
    expect(stub.requests).toHaveLength(1);
    expect(stub.requests[0]!.query).toMatchObject({ phone: SALMA, portalId: '123', userEmail: 'agent@example.com' });

    expect(tagsOf(renderer.findByTestId(TableRow, 'coex-message-m1'))).toEqual(['In', 'History']);
    expect(tagsOf(renderer.findByTestId(TableRow, 'coex-message-m2'))).toEqual(['In', 'Customer']);
    expect(tagsOf(renderer.findByTestId(TableRow, 'coex-message-m3'))).toEqual(['Out', 'AI agent']);
    expect(tagsOf(renderer.findByTestId(TableRow, 'coex-message-m4'))).toEqual(['Out', 'Phone app']);
    expect(tagsOf(renderer.findByTestId(TableRow, 'coex-message-m6'))).toEqual(['Out', 'API']);
    expect(renderer.findByTestId(Text, 'coex-transcript-m5').text).toBe('Transcript: bghit n3ref taman');
    expect(textOf(renderer.findByTestId(TableRow, 'coex-day-2026-11-24'))).toBe('Yesterday');
    expect(textOf(renderer.findByTestId(TableRow, 'coex-day-2026-11-25'))).toBe('Today');

    expect(renderer.findByTestId(Tag, 'coex-window').text).toBe('Window open: closes in 8 h 0 min');
    expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot active');
    expect(renderer.findByTestId(Tag, 'coex-history-sync').text).toBe('Chat history imported');
    expect(renderer.findByTestId(Button, 'coex-bot-primary').text).toBe('Pause bot');
    expect(textOf(renderer.getRootNode())).toContain('Quiet period over: resumed automatically');
    expect(renderer.maybeFindByTestId(TextArea, 'coex-reply-text')).not.toBeNull();
    expect(renderer.maybeFind(Select)).toBeNull();
  });

  it('asks for a phone number instead of calling the server when the contact has none', async () => {
    const { renderer, stub } = await renderCard({ properties: { phone: 'ask reception' } });
    expect(renderer.find(Alert).props.title).toBe('No phone number on this contact');
    expect(stub.requests).toHaveLength(0);
  });

  it('says so when the number has no conversation yet, and shows a declined history import', async () => {
    const { renderer } = await renderCard({ threads: {}, sync: { history: { status: 'declined', progress: 0 }, contacts: { status: 'receiving' } } });
    await renderer.waitFor(() => expect(renderer.findByTestId(Text, 'coex-no-thread').text).toBe(`No WhatsApp conversation with ${SALMA} yet.`), WAIT);
    expect(renderer.find(Alert).props.title).toBe('No chat history from the phone');
    expect(renderer.maybeFindByTestId(Button, 'coex-bot-primary')).toBeNull();
    expect(renderer.maybeFind(TextArea)).toBeNull();
  });

  it('says when the workspace has no WhatsApp number yet', async () => {
    const { renderer } = await renderCard({ threads: {}, sync: null });
    await renderer.waitFor(() => expect(renderer.findByTestId(Tag, 'coex-no-number').text).toBe('No WhatsApp number connected to CoEx yet'), WAIT);
    expect(renderer.maybeFindByTestId(Tag, 'coex-history-sync')).toBeNull();
  });

  it('pauses the bot, then shows the new state and the recorded cause', async () => {
    const { renderer, stub } = await renderCard({});
    await renderer.waitFor(() => expect(renderer.findByTestId(Button, 'coex-bot-primary').text).toBe('Pause bot'), WAIT);
    renderer.findByTestId(Button, 'coex-bot-primary').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot paused'), WAIT);

    const post = stub.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe(`/ext/v1/hubspot/threads/${sampleThread().id}/bot`);
    expect(post.body).toEqual({ action: 'pause' });
    expect(renderer.findByTestId(Button, 'coex-bot-primary').text).toBe('Resume bot');
    expect(textOf(renderer.getRootNode())).toContain('Paused from HubSpot');
    expect(textOf(renderer.getRootNode())).toContain('agent@example.com');
    expect(renderer.mocks.actions.addAlert.calls).toEqual([[{ type: 'success', message: 'Bot paused for this conversation.' }]]);
  });

  it('sends a typed reply inside the window and shows it as an API message', async () => {
    const { renderer, stub } = await renderCard({});
    await renderer.waitFor(() => expect(renderer.findByTestId(TextArea, 'coex-reply-text')).toBeTruthy(), WAIT);
    expect(renderer.findByTestId(Button, 'coex-send-text').props.disabled).toBe(true);
    typeInto(renderer.findByTestId(TextArea, 'coex-reply-text'), 'Taman 250 DH, livraison 24h.');
    expect(renderer.findByTestId(Button, 'coex-send-text').props.disabled).toBe(false);
    renderer.findByTestId(Button, 'coex-send-text').trigger('onClick');

    await renderer.waitFor(() => expect(textOf(renderer.findByTestId(TableRow, 'coex-message-stub-1'))).toContain('Taman 250 DH, livraison 24h.'), WAIT);
    const post = stub.requests.find((r) => r.method === 'POST')!;
    expect(post.path).toBe(`/ext/v1/hubspot/threads/${sampleThread().id}/messages`);
    expect(post.body).toEqual({ text: 'Taman 250 DH, livraison 24h.', client_ref: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(tagsOf(renderer.findByTestId(TableRow, 'coex-message-stub-1'))).toEqual(['Out', 'API']);
    expect(renderer.findByTestId(TextArea, 'coex-reply-text').props.value).toBe('');
    // A CRM reply pauses the agent on the server; the card shows it after its refresh.
    expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot paused');
  });

  it('offers the server\'s templates when the window is closed and sends the chosen one', async () => {
    const { renderer, stub } = await renderCard({
      threads: { [SALMA]: settledThread({ window: { open: false, closes_at: '2026-11-24T10:00:00.000Z' } }) },
      beforeRender: (s) => {
        s.templates = [{ name: 'order_ready', language: 'fr', label: 'Commande prête' }];
      },
    });
    await renderer.waitFor(() => expect(renderer.findByTestId(Select, 'coex-template-select')).toBeTruthy(), WAIT);
    expect(renderer.findByTestId(Tag, 'coex-window').text).toBe('Window closed: templates only');
    expect(renderer.maybeFind(TextArea)).toBeNull();
    expect(renderer.findByTestId(Select, 'coex-template-select').props.options).toEqual([{ label: 'Commande prête', value: 'order_ready|fr' }]);
    expect(renderer.findByTestId(Button, 'coex-send-template').props.disabled).toBe(true);

    renderer.findByTestId(Select, 'coex-template-select').trigger('onChange', 'order_ready|fr' as never);
    renderer.findByTestId(Button, 'coex-send-template').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-stub-1')).not.toBeNull(), WAIT);
    expect(stub.requests.find((r) => r.method === 'POST')!.body).toEqual({ template: { name: 'order_ready', language: 'fr' }, client_ref: expect.any(String) });
  });

  it('switches to templates when the server says the window closed meanwhile (409)', async () => {
    const { renderer } = await renderCard({ threads: { [SALMA]: settledThread({ refuseText: true }) } });
    await renderer.waitFor(() => expect(renderer.findByTestId(TextArea, 'coex-reply-text')).toBeTruthy(), WAIT);
    typeInto(renderer.findByTestId(TextArea, 'coex-reply-text'), 'Still there?');
    renderer.findByTestId(Button, 'coex-send-text').trigger('onClick');

    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    expect(renderer.find(Alert, { title: 'That did not work' }).text).toBe('The 24-hour window is closed: only an approved template can be sent.');
    expect(renderer.findByTestId(Tag, 'coex-window').text).toBe('Window closed: templates only');
    // No server templates: the configured fallback list is offered.
    expect(renderer.findByTestId(Select, 'coex-template-select').props.options.length).toBeGreaterThan(0);
  });

  it('shows a load error with a retry that recovers', async () => {
    const { renderer, stub, hs } = await renderCard({ beforeRender: (s) => s.failNext(2, 503, { error: 'maintenance' }) });
    await renderer.waitFor(() => expect(renderer.find(Alert).props.title).toBe('Could not load the WhatsApp conversation'), WAIT);
    expect(renderer.find(Alert).text).toBe('The CoEx server had a problem (HTTP 503). Try again in a moment.');
    // hubspot.fetch retried the 503 once by itself.
    expect(hs.sent).toHaveLength(2);

    renderer.findByTestId(Button, 'coex-retry').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-m2')).not.toBeNull(), WAIT);
    expect(stub.requests).toHaveLength(3);
  });

  it('refuses to render data it cannot validate', async () => {
    const { renderer } = await renderCard({
      beforeRender: (s) => {
        s.rawThreadResponse = { thread: { id: 't' }, messages: [], sync: { history: { status: 'complete', progress: 100 }, contacts: { status: 'complete' } } };
      },
    });
    await renderer.waitFor(() => expect(renderer.find(Alert).text).toMatch(/does not understand/), WAIT);
    expect(renderer.maybeFind(TextArea)).toBeNull();
  });

  it('explains a server URL hubspot.fetch could never call', async () => {
    const { renderer, stub } = await renderCard({ serverUrl: 'http://coex.example.com' });
    expect(renderer.find(Alert).props.title).toBe('The CoEx card is not configured');
    expect(renderer.find(Alert).text).toMatch(/must use https/);
    expect(stub.requests).toHaveLength(0);
  });

  it('shows only the latest messages until asked for earlier ones', async () => {
    const many = Array.from({ length: 35 }, (_, i) =>
      msg({ id: `x${i}`, direction: i % 2 ? 'outbound' : 'inbound', origin: i % 2 ? 'agent' : 'customer', text: `message ${i}`, timestamp: new Date(Date.UTC(2026, 10, 25, 8, i)).toISOString() }),
    );
    const { renderer } = await renderCard({ threads: { [SALMA]: settledThread({ messages: many }) } });
    await renderer.waitFor(() => expect(renderer.findByTestId(Button, 'coex-show-earlier').text).toBe('Show earlier messages (5)'), WAIT);
    expect(renderer.maybeFindByTestId(TableRow, 'coex-message-x4')).toBeNull();
    expect(renderer.maybeFindByTestId(TableRow, 'coex-message-x5')).not.toBeNull();
    renderer.findByTestId(Button, 'coex-show-earlier').trigger('onClick');
    expect(renderer.maybeFindByTestId(TableRow, 'coex-message-x0')).not.toBeNull();
    expect(renderer.maybeFindByTestId(Button, 'coex-show-earlier')).toBeNull();
  });
});

describe('CoexCard while the server is busy', () => {
  it('follows a transcription and a history import until they finish', async () => {
    const busy = sampleThread(); // m7: a voice note being transcribed
    const { renderer, stub } = await renderCard({
      threads: { [SALMA]: busy },
      sync: { history: { status: 'in_progress', progress: 40 }, contacts: { status: 'requested' } },
      refreshWhileBusyMs: 25,
    });
    await renderer.waitFor(() => expect(renderer.findByTestId(Text, 'coex-transcript-m7').text).toBe('Transcribing…'), WAIT);
    expect(renderer.findByTestId(ProgressBar, 'coex-history-progress').props.value).toBe(40);
    expect(renderer.findByTestId(Tag, 'coex-history-sync').text).toBe('Importing chat history: 40%');

    const voice = stub.threads.get('212612345678')!.messages.find((m) => m.id === 'm7')!;
    voice.transcript = 'wach momkin tjibuh l Rabat?';
    voice.transcript_state = 'done';
    stub.sync = { history: { status: 'complete', progress: 100 }, contacts: { status: 'receiving' } };

    await renderer.waitFor(() => expect(renderer.findByTestId(Text, 'coex-transcript-m7').text).toBe('Transcript: wach momkin tjibuh l Rabat?'), WAIT);
    expect(renderer.findByTestId(Tag, 'coex-history-sync').text).toBe('Chat history imported');
    expect(renderer.maybeFindByTestId(ProgressBar, 'coex-history-progress')).toBeNull();
  });
});

describe('CoexCard on a deal or ticket', () => {
  it('uses the associated contacts\' phones and lets the user switch between them', async () => {
    const other = settledThread({ id: 'b0000000-0000-4000-8000-000000000002', contact_name: 'Youssef Alami', wa_id: '212699887766', messages: [msg({ id: 'y1', direction: 'inbound', origin: 'customer', text: 'Bonjour', timestamp: '2026-11-25T08:00:00.000Z' })] });
    const { renderer, stub } = await renderCard({
      objectTypeId: '0-3',
      threads: { [SALMA]: settledThread(), '+212699887766': other },
      associations: [
        { toObjectId: 7, properties: { firstname: 'Salma', lastname: 'Benali', phone: SALMA, mobilephone: null, hs_whatsapp_phone_number: null } },
        { toObjectId: 8, properties: { firstname: 'Youssef', lastname: 'Alami', phone: null, mobilephone: '+212 699 887 766', hs_whatsapp_phone_number: null } },
      ],
    });
    const select = () => renderer.find(Select, { name: 'coex-contact' });
    expect(select().props.options).toEqual([
      { label: `Salma Benali (${SALMA})`, value: SALMA },
      { label: 'Youssef Alami (+212699887766)', value: '+212699887766' },
    ]);
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-m2')).not.toBeNull(), WAIT);

    select().trigger('onChange', '+212699887766' as never);
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-y1')).not.toBeNull(), WAIT);
    expect(renderer.maybeFindByTestId(TableRow, 'coex-message-m2')).toBeNull();
    expect(stub.requests.map((r) => r.query.phone)).toEqual([SALMA, '+212699887766']);
  });

  it('says so when no associated contact has a phone', async () => {
    const { renderer, stub } = await renderCard({ objectTypeId: '0-5', associations: [{ toObjectId: 9, properties: { firstname: 'Nophone', phone: null } }] });
    expect(renderer.find(Alert).props.title).toBe('No contact with a phone number');
    expect(stub.requests).toHaveLength(0);
  });
});
