import { afterEach, describe, expect, it } from 'vitest';
import { Accordion, Alert, Button, Input, LoadingSpinner, ProgressBar, Select, TableRow, Tag, Text, TextArea } from '@hubspot/ui-extensions';
import type { CrmContext, InputProps, TextAreaProps } from '@hubspot/ui-extensions';
import { createRenderer, RenderedNodeType, type RenderedElementNode } from '@hubspot/ui-extensions/testing';
import { CoexCard } from './CoexCard.js';
import { emulateHubSpotFetch, startCoexExtApiStub, STUB_PHONE_NUMBER_ID, type CoexExtApiStub, type StubCampaignsAnswer, type StubSync, type StubTemplatesAnswer, type StubThread } from '../../../test/coex-ext-api-stub.js';
import { SAMPLE_NOW, msg, sampleCampaigns, sampleTemplates, sampleThread } from '../../../test/fixtures.js';

/*
 * The React card rendered with HubSpot's own testing utilities (@hubspot/ui-extensions/testing:
 * createRenderer, mocked CRM hooks and actions), talking through an emulation of hubspot.fetch to
 * a real HTTP stand-in of the CoEx extension API.
 */

const WAIT = { timeoutInMs: 5_000 };
const SALMA = '+212612345678';
const THREAD_PATH = '/ext/v1/hubspot/thread';
const TEMPLATES_PATH = '/ext/v1/hubspot/templates';
const CAMPAIGNS_PATH = '/ext/v1/hubspot/campaigns';
const requestsTo = (stub: CoexExtApiStub, path: string) => stub.requests.filter((r) => r.path === path);

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
  templates?: StubTemplatesAnswer;
  campaigns?: Record<string, StubCampaignsAnswer>;
  objectTypeId?: string;
  properties?: Record<string, string | null>;
  associations?: { toObjectId: number; properties: Record<string, string | null> }[];
  serverUrl?: string;
  refreshWhileBusyMs?: number;
  /** context.user.locale as HubSpot passes it (the mock context has none). */
  locale?: string;
  beforeRender?: (stub: CoexExtApiStub) => void;
}) {
  const stub = await startCoexExtApiStub({
    threads: opts.threads ?? { [SALMA]: settledThread() },
    ...(opts.sync !== undefined ? { sync: opts.sync } : {}),
    ...(opts.templates ? { templates: opts.templates } : {}),
    ...(opts.campaigns ? { campaigns: opts.campaigns } : {}),
  });
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
  const context: CrmContext = {
    ...base,
    crm: { objectId: 42, objectTypeId: opts.objectTypeId ?? '0-1' },
    portal: { ...base.portal, timezone: 'UTC' },
    ...(opts.locale !== undefined ? { user: { ...base.user, locale: opts.locale } } : {}),
  };
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
function typeInto(node: RenderedElementNode<TextAreaProps> | RenderedElementNode<InputProps>, value: string): void {
  node.trigger('onInput', value as never);
}

describe('CoexCard on a contact', () => {
  it('shows the thread of the WhatsApp number with origin badges, days and transcripts', async () => {
    const { renderer, stub } = await renderCard({ properties: { phone: '+33 1 23 45 67 89', hs_whatsapp_phone_number: '+212 612 345 678' } });
    expect(renderer.find(LoadingSpinner).props.label).toBe('Loading the WhatsApp conversation');
    await renderer.waitFor(() => expect(renderer.findByTestId(TableRow, 'coex-message-m2')).toBeTruthy(), WAIT);

    // The WhatsApp property wins over `phone`; HubSpot's proxy adds the portal and user.
    expect(requestsTo(stub, THREAD_PATH)).toHaveLength(1);
    expect(requestsTo(stub, THREAD_PATH)[0]!.query).toMatchObject({ phone: SALMA, portalId: '123', userEmail: 'agent@example.com' });
    // The window is open: no template list is read.
    expect(requestsTo(stub, TEMPLATES_PATH)).toHaveLength(0);

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

  it("shows next to the bot state that Meta's agent holds the chat, and the text reply that takes it back removes it", async () => {
    const control = { holder: 'meta_agent', app_id: null, since: '2026-11-25T10:30:00.000Z' };
    const { renderer } = await renderCard({ threads: { [SALMA]: settledThread({ control }) } });
    await renderer.waitFor(() => expect(renderer.findByTestId(Tag, 'coex-control').text).toBe("Meta's AI agent is handling this chat"), WAIT);
    // Beside the bot state, which still reads as the server stores it.
    expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot active');
    expect(renderer.findByTestId(Text, 'coex-control-detail').text).toBe(
      "CoEx's agent stays silent while Meta's agent has this chat. A text reply sent from here takes it back once WhatsApp accepts it (a template does not); CoEx's agent then stays paused for its quiet period, as after any reply from a person. (since 25 Nov, 10:30)",
    );
    typeInto(renderer.findByTestId(TextArea, 'coex-reply-text'), 'Salam, ana m3ak.');
    renderer.findByTestId(Button, 'coex-send-text').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Tag, 'coex-control')).toBeNull(), WAIT);
    expect(renderer.maybeFindByTestId(Text, 'coex-control-detail')).toBeNull();
  });

  it('names another app that holds the chat, and shows nothing for CoEx or a server without control', async () => {
    const other = await renderCard({ threads: { [SALMA]: settledThread({ control: { holder: 'other_app', app_id: '1234567890', since: null } }) } });
    await other.renderer.waitFor(() => expect(other.renderer.findByTestId(Tag, 'coex-control').text).toBe('Another app is handling this chat (1234567890)'), WAIT);
    expect(other.renderer.findByTestId(Text, 'coex-control-detail').text).toContain('while the other app has this chat');
    expect(other.renderer.findByTestId(Text, 'coex-control-detail').text).not.toContain('since');
    for (const threads of [{ [SALMA]: settledThread({ control: { holder: 'coex', app_id: null, since: '2026-11-25T10:30:00.000Z' } }) }, { [SALMA]: settledThread() }]) {
      const { renderer } = await renderCard({ threads });
      await renderer.waitFor(() => expect(renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot active'), WAIT);
      expect(renderer.maybeFindByTestId(Tag, 'coex-control')).toBeNull();
      expect(renderer.maybeFindByTestId(Text, 'coex-control-detail')).toBeNull();
    }
  });

  it('shows a load error with a retry that recovers', async () => {
    const { renderer, stub, hs } = await renderCard({ beforeRender: (s) => s.failNext(2, 503, { error: 'maintenance' }, THREAD_PATH) });
    await renderer.waitFor(() => expect(renderer.find(Alert).props.title).toBe('Could not load the WhatsApp conversation'), WAIT);
    expect(renderer.find(Alert).text).toBe('The CoEx server had a problem (HTTP 503). Try again in a moment.');
    // hubspot.fetch retried the 503 once by itself.
    expect(hs.sent.filter((r) => new URL(r.url).pathname === THREAD_PATH)).toHaveLength(2);

    renderer.findByTestId(Button, 'coex-retry').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-m2')).not.toBeNull(), WAIT);
    expect(requestsTo(stub, THREAD_PATH)).toHaveLength(3);
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

describe("CoexCard in the HubSpot user's language", () => {
  it('speaks French or Arabic from context.user.locale, with dates in that locale, and English for any other language', async () => {
    const campaigns = { [SALMA]: sampleCampaigns() };
    const control = { holder: 'meta_agent', app_id: null, since: '2026-11-25T10:30:00.000Z' };
    const fr = await renderCard({ locale: 'fr-fr', campaigns, threads: { [SALMA]: settledThread({ control }) } });
    await fr.renderer.waitFor(() => expect(fr.renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot actif'), WAIT);
    await fr.renderer.waitFor(() => expect(fr.renderer.findByTestId(Alert, 'coex-opt-out').props.title).toBe('Désinscrit des messages marketing'), WAIT);
    expect(fr.renderer.findByTestId(Tag, 'coex-window').text).toBe('Fenêtre ouverte : se ferme dans 8 h 0 min');
    expect(fr.renderer.findByTestId(Tag, 'coex-control').text).toBe('L’agent IA de Meta gère cette conversation');
    expect(fr.renderer.findByTestId(Text, 'coex-control-detail').text).toContain('(depuis 25 nov., 10:30)');
    expect(fr.renderer.findByTestId(Button, 'coex-bot-primary').text).toBe('Mettre le bot en pause');
    expect(fr.renderer.findByTestId(Button, 'coex-send-text').text).toBe('Envoyer');
    expect(fr.renderer.findByTestId(TextArea, 'coex-reply-text').props.label).toBe('Répondre sur WhatsApp');
    expect(tagsOf(fr.renderer.findByTestId(TableRow, 'coex-message-m3'))).toEqual(['Envoyé', 'Agent IA']);
    expect(fr.renderer.findByTestId(Alert, 'coex-opt-out').text).toMatch(/^A écrit « baraka » le 24 nov\., 10:15\. Les campagnes marketing excluent ce client/);
    const frText = textOf(fr.renderer.getRootNode());
    for (const words of ['Aujourd’hui', 'Campagnes', 'Transcription : bghit n3ref taman', '670 envoyés · 640 remis · 410 lus · 5 échoués · 38 réponses sur 800']) expect(frText).toContain(words);

    const ar = await renderCard({ locale: 'ar-ma' });
    await ar.renderer.waitFor(() => expect(ar.renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('الروبوت مفعّل'), WAIT);
    expect(ar.renderer.findByTestId(Button, 'coex-send-text').text).toBe('إرسال');
    expect(tagsOf(ar.renderer.findByTestId(TableRow, 'coex-message-m2'))).toEqual(['وارد', 'الزبون']);

    const es = await renderCard({ locale: 'es-es' });
    await es.renderer.waitFor(() => expect(es.renderer.findByTestId(Tag, 'coex-bot-state').text).toBe('Bot active'), WAIT);
    expect(es.renderer.findByTestId(Button, 'coex-send-text').text).toBe('Send');
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
    expect(requestsTo(stub, THREAD_PATH).map((r) => r.query.phone)).toEqual([SALMA, '+212699887766']);
    // The campaign reports follow the chosen contact too.
    expect(requestsTo(stub, CAMPAIGNS_PATH).map((r) => r.query.phone)).toEqual([SALMA, '+212699887766']);
  });

  it('says so when no associated contact has a phone', async () => {
    const { renderer, stub } = await renderCard({ objectTypeId: '0-5', associations: [{ toObjectId: 9, properties: { firstname: 'Nophone', phone: null } }] });
    expect(renderer.find(Alert).props.title).toBe('No contact with a phone number');
    expect(stub.requests).toHaveLength(0);
  });
});

describe('CoexCard template picker (window closed)', () => {
  const closed = () => settledThread({ window: { open: false, closes_at: '2026-11-24T10:00:00.000Z' } });
  const select = (renderer: Awaited<ReturnType<typeof renderCard>>['renderer']) => renderer.findByTestId(Select, 'coex-template-select');
  const param = (renderer: Awaited<ReturnType<typeof renderCard>>['renderer'], name: string) => renderer.findByTestId(Input, `coex-template-param-${name}`);

  it('offers the sendable templates of the thread\'s number and sends one with positional parameters', async () => {
    const { renderer, stub } = await renderCard({ threads: { [SALMA]: closed() } });
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    expect(requestsTo(stub, TEMPLATES_PATH)[0]!.query).toMatchObject({ phone_number_id: STUB_PHONE_NUMBER_ID, portalId: '123' });
    expect(renderer.findByTestId(Tag, 'coex-window').text).toBe('Window closed: templates only');
    expect(renderer.maybeFind(TextArea)).toBeNull();
    // promo_photo needs an image header: not offered, and the card says why.
    expect(select(renderer).props.options).toEqual([
      { label: 'delivery_slot (fr)', value: 'delivery_slot|fr' },
      { label: 'hello_world (en_US)', value: 'hello_world|en_US' },
      { label: 'order_shipped (fr)', value: 'order_shipped|fr' },
    ]);
    expect(renderer.findByTestId(Text, 'coex-templates-unsendable').text).toBe('1 approved template cannot be sent from here: needs an image header.');
    expect(renderer.maybeFindByTestId(Tag, 'coex-templates-stale')).toBeNull();
    expect(renderer.findByTestId(Button, 'coex-send-template').props.disabled).toBe(true);

    select(renderer).trigger('onChange', 'order_shipped|fr' as never);
    expect(renderer.findAll(Input).map((i) => i.props.label)).toEqual(['Parameter 1', 'Parameter 2']);
    expect(renderer.findByTestId(Text, 'coex-template-preview').text).toBe('Bonjour {{1}}, votre commande {{2}} est en route.');

    // Nothing is sent until every placeholder has a value.
    typeInto(param(renderer, '1'), 'Salma');
    expect(renderer.findByTestId(Text, 'coex-template-preview').text).toBe('Bonjour Salma, votre commande {{2}} est en route.');
    renderer.findByTestId(Button, 'coex-send-template').trigger('onClick');
    expect(param(renderer, '2').props).toMatchObject({ error: true, validationMessage: 'Required' });
    expect(param(renderer, '1').props.error).toBe(false);
    expect(stub.requests.filter((r) => r.method === 'POST')).toHaveLength(0);

    typeInto(param(renderer, '2'), 'CMD-1042');
    expect(param(renderer, '2').props.error).toBe(false);
    renderer.findByTestId(Button, 'coex-send-template').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-stub-1')).not.toBeNull(), WAIT);
    expect(stub.requests.find((r) => r.method === 'POST')!.body).toEqual({ template: { name: 'order_shipped', language: 'fr', body_parameters: ['Salma', 'CMD-1042'] }, client_ref: expect.any(String) });
    expect(textOf(renderer.findByTestId(TableRow, 'coex-message-stub-1'))).toContain('Bonjour Salma, votre commande CMD-1042 est en route.');
    expect(renderer.mocks.actions.addAlert.calls).toEqual([[{ type: 'success', message: 'Template "order_shipped" sent on WhatsApp.' }]]);
    // The picker starts over for the next one.
    await renderer.waitFor(() => expect(renderer.maybeFind(Input)).toBeNull(), WAIT);
    expect(select(renderer).props.value).toBeUndefined();
  });

  it('sends named parameters as an object, and a template without placeholders without any', async () => {
    const { renderer, stub } = await renderCard({ threads: { [SALMA]: closed() } });
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    select(renderer).trigger('onChange', 'delivery_slot|fr' as never);
    expect(renderer.findAll(Input).map((i) => i.props.label)).toEqual(['first_name', 'slot']);
    typeInto(param(renderer, 'first_name'), 'Salma');
    typeInto(param(renderer, 'slot'), 'demain matin');
    expect(renderer.findByTestId(Text, 'coex-template-preview').text).toBe('Bonjour Salma, votre livraison arrive demain matin.');
    renderer.findByTestId(Button, 'coex-send-template').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-stub-1')).not.toBeNull(), WAIT);

    select(renderer).trigger('onChange', 'hello_world|en_US' as never);
    expect(renderer.maybeFind(Input)).toBeNull();
    expect(renderer.findByTestId(Text, 'coex-template-preview').text).toBe('Hello World');
    renderer.findByTestId(Button, 'coex-send-template').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-stub-2')).not.toBeNull(), WAIT);

    expect(stub.requests.filter((r) => r.method === 'POST').map((r) => (r.body as { template: unknown }).template)).toEqual([
      { name: 'delivery_slot', language: 'fr', body_parameters: { first_name: 'Salma', slot: 'demain matin' } },
      { name: 'hello_world', language: 'en_US' },
    ]);
  });

  it('switches to templates when the server says the window closed meanwhile (409) and reads them then', async () => {
    const { renderer, stub } = await renderCard({ threads: { [SALMA]: settledThread({ refuseText: true }) } });
    await renderer.waitFor(() => expect(renderer.findByTestId(TextArea, 'coex-reply-text')).toBeTruthy(), WAIT);
    expect(requestsTo(stub, TEMPLATES_PATH)).toHaveLength(0);
    typeInto(renderer.findByTestId(TextArea, 'coex-reply-text'), 'Still there?');
    renderer.findByTestId(Button, 'coex-send-text').trigger('onClick');

    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    expect(renderer.find(Alert, { title: 'That did not work' }).text).toBe('The 24-hour window is closed: only an approved template can be sent.');
    expect(renderer.findByTestId(Tag, 'coex-window').text).toBe('Window closed: templates only');
    expect(select(renderer).props.options).toHaveLength(3);
    expect(requestsTo(stub, TEMPLATES_PATH)).toHaveLength(1);
  });

  it('says when no template can be sent, and shows a stale list as such', async () => {
    const { renderer, stub } = await renderCard({ threads: { [SALMA]: closed() }, templates: sampleTemplates({ templates: [], stale: true }) });
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Text, 'coex-templates-empty')).not.toBeNull(), WAIT);
    expect(renderer.findByTestId(Text, 'coex-templates-empty').text).toMatch(/^This WhatsApp Business Account has no approved templates/);
    expect(renderer.findByTestId(Tag, 'coex-templates-stale').text).toBe('Template list may be out of date (from 25 Nov, 11:58)');
    expect(renderer.maybeFind(Select, { name: 'coex-template' })).toBeNull();
    expect(renderer.maybeFindByTestId(Button, 'coex-send-template')).toBeNull();

    // Someone approves a template in WhatsApp Manager meanwhile; "Reload templates" picks it up.
    stub.templates = sampleTemplates();
    renderer.findByTestId(Button, 'coex-templates-retry').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    expect(renderer.maybeFindByTestId(Tag, 'coex-templates-stale')).toBeNull();
  });

  it('explains a failed template list and retries it', async () => {
    const { renderer, stub } = await renderCard({
      threads: { [SALMA]: closed() },
      // Meta refused and nothing is cached (a 5xx: hubspot.fetch asks twice).
      beforeRender: (s) => s.failNext(2, 502, { error: 'WhatsApp did not return the templates; try again', code: 'templates_unavailable', meta_code: 190 }, TEMPLATES_PATH),
    });
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Alert, 'coex-templates-error')).not.toBeNull(), WAIT);
    expect(renderer.findByTestId(Alert, 'coex-templates-error').text).toBe('WhatsApp did not give CoEx the list of approved templates, and CoEx has none saved yet. Try again in a moment.');
    expect(renderer.maybeFindByTestId(Button, 'coex-send-template')).toBeNull();

    renderer.findByTestId(Button, 'coex-templates-retry').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    expect(renderer.maybeFindByTestId(Alert, 'coex-templates-error')).toBeNull();
    expect(requestsTo(stub, TEMPLATES_PATH)).toHaveLength(3);
  });

  it('sends once when HubSpot\'s automatic retry is refused as replayed: the card asks again with the same client_ref', async () => {
    const { renderer, stub } = await renderCard({ threads: { [SALMA]: closed() } });
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Select, 'coex-template-select')).not.toBeNull(), WAIT);
    const messages = `/ext/v1/hubspot/threads/${sampleThread().id}/messages`;
    stub.actThenAnswer(502, { error: 'bad gateway' }, messages);
    stub.failNext(1, 401, { error: 'this signature was already used', code: 'replayed' }, messages);
    select(renderer).trigger('onChange', 'hello_world|en_US' as never);
    renderer.findByTestId(Button, 'coex-send-template').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-stub-1')).not.toBeNull(), WAIT);

    const posts = requestsTo(stub, messages);
    expect(posts).toHaveLength(3);
    expect(new Set(posts.map((p) => (p.body as { client_ref: string }).client_ref)).size).toBe(1);
    expect(renderer.maybeFind(Alert, { title: 'That did not work' })).toBeNull();
    expect(renderer.mocks.actions.addAlert.calls).toEqual([[{ type: 'success', message: 'Template "hello_world" sent on WhatsApp.' }]]);
    expect(stub.threads.get('212612345678')!.messages.filter((m) => m.type === 'template')).toHaveLength(1);
  });
});

describe('CoexCard campaign reports', () => {
  it('shows each campaign with this customer\'s outcome, the totals, the top failures, and the opt-out', async () => {
    const { renderer, stub } = await renderCard({ campaigns: { [SALMA]: sampleCampaigns() } });
    await renderer.waitFor(() => expect(renderer.findAll(Accordion)).toHaveLength(2), WAIT);
    expect(requestsTo(stub, CAMPAIGNS_PATH)[0]!.query).toMatchObject({ phone: SALMA, limit: '5', portalId: '123' });

    const friday = 'ca000000-0000-4000-8000-000000000002';
    const ramadan = 'ca000000-0000-4000-8000-000000000001';
    expect(renderer.findAll(Accordion).map((a) => [a.props.title, a.props.defaultOpen])).toEqual([
      ['Black Friday: failed', true],
      ['Soldes Ramadan: read, replied', false],
    ]);
    expect(renderer.findByTestId(Tag, `coex-campaign-outcome-${friday}`).props.variant).toBe('error');
    expect(renderer.findByTestId(Text, `coex-campaign-error-${friday}`).text).toBe('Error 131049: This message was not delivered to maintain healthy ecosystem engagement.');
    expect(renderer.findByTestId(Tag, `coex-campaign-status-${friday}`).text).toBe('Running');
    expect(renderer.findByTestId(Text, `coex-campaign-failures-${friday}`).text).toBe('Top failures: 131049 ×4, 131026 ×1');

    const ramadanItem = renderer.findByTestId(Accordion, `coex-campaign-${ramadan}`);
    expect(tagsOf(ramadanItem)).toEqual(['Read', 'Replied', 'Completed']);
    expect(textOf(ramadanItem)).toContain('Template promo_ramadan (ar) · Sent 20 Nov, 09:12');
    expect(renderer.findByTestId(Text, `coex-campaign-totals-${ramadan}`).text).toBe('1,180 sent · 1,100 delivered · 870 read · 6 failed · 95 replied of 1,200');

    const optOut = renderer.findByTestId(Alert, 'coex-opt-out');
    expect(optOut.props.title).toBe('Opted out of marketing messages');
    expect(optOut.text).toMatch(/^Wrote "baraka" on 24 Nov, 10:15\./);
  });

  it('says when the customer was in no campaign, without an opt-out', async () => {
    const { renderer } = await renderCard({});
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Text, 'coex-campaigns-none')).not.toBeNull(), WAIT);
    expect(renderer.findByTestId(Text, 'coex-campaigns-none').text).toBe(`${SALMA} was not in any template campaign.`);
    expect(renderer.maybeFindByTestId(Alert, 'coex-opt-out')).toBeNull();
    expect(renderer.maybeFind(Accordion)).toBeNull();
  });

  it('keeps the conversation when the campaign reports fail, and retries them', async () => {
    const { renderer, stub } = await renderCard({ campaigns: { [SALMA]: sampleCampaigns() }, beforeRender: (s) => s.failNext(1, 404, { error: 'not found' }, CAMPAIGNS_PATH) });
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Alert, 'coex-campaigns-error')).not.toBeNull(), WAIT);
    expect(renderer.findByTestId(Alert, 'coex-campaigns-error').text).toBe('This CoEx server does not report campaigns yet: update it.');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(TableRow, 'coex-message-m2')).not.toBeNull(), WAIT);

    renderer.findByTestId(Button, 'coex-campaigns-retry').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.findAll(Accordion)).toHaveLength(2), WAIT);
    expect(renderer.maybeFindByTestId(Alert, 'coex-campaigns-error')).toBeNull();
    expect(requestsTo(stub, CAMPAIGNS_PATH)).toHaveLength(2);
  });

  it('reloads the campaign reports with the Refresh button', async () => {
    const { renderer, stub } = await renderCard({});
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Text, 'coex-campaigns-none')).not.toBeNull(), WAIT);
    stub.campaigns.set('212612345678', sampleCampaigns());
    renderer.findByTestId(Button, 'coex-refresh').trigger('onClick');
    await renderer.waitFor(() => expect(renderer.maybeFindByTestId(Alert, 'coex-opt-out')).not.toBeNull(), WAIT);
    expect(renderer.findAll(Accordion)).toHaveLength(2);
  });
});
