import * as P from '../whatsapp/payloads.js';
import type { DeliveryKey } from './labels.js';

/**
 * A realistic Coexistence day for a Moroccan shop ("Atlas Boutique", Marrakech): the phone-book
 * sync, six months of history arriving in chunks out of order, live customers writing in Darija
 * (Arabic and Latin script) and French, a voice note, the owner answering from the phone app, and
 * statuses of a message from the synced history. Every item is a webhook body in Meta's exact shape.
 */
export const DEMO_NUMBER: P.NumberRef = { wabaId: '102290129340398', phoneNumberId: '106540352242922', displayPhoneNumber: '212524433221' };

const YOUSSEF = { waId: '212612345678', name: 'Youssef' };
const KHADIJA = { waId: '212661234567', name: 'خديجة' };
const CAMILLE = { waId: '33612345678', name: 'Camille Martin' };
const HAMZA = { waId: '212700112233', name: 'Hamza' };

/** Media id of Hamza's voice note, served by the local Graph API stand-in. */
export const DEMO_VOICE_MEDIA_ID = '1203948571234567';
/** When the owner answers Khadija from the phone, relative to the demo's start (minutes). */
export const OWNER_ECHO_MINUTE = -2;

/** Two webhook bodies as Meta sends them when it batches: one entry, both changes, in order. */
function inOneDelivery(...bodies: Array<{ object: string; entry: Array<{ id: string; changes: unknown[] }> }>) {
  const [first] = bodies;
  if (!first) throw new Error('inOneDelivery needs a body');
  return { object: first.object, entry: [{ id: first.entry[0]!.id, changes: bodies.flatMap((b) => b.entry.flatMap((e) => e.changes)) }] };
}

/** `voiceSha256`: hex SHA-256 of the voice note's bytes, as Meta sends it in the webhook. */
export function demoDeliveries(now = Date.now(), voiceSha256?: string): Array<{ label: DeliveryKey; body: unknown }> {
  const min = (m: number) => now + m * 60_000;
  const midnight = Math.floor(now / 86_400_000) * 86_400_000;
  const day = (d: number, h = 10) => midnight - d * 86_400_000 + h * 3_600_000;
  const n = DEMO_NUMBER;
  return [
    {
      label: 'contactSync',
      body: P.contactSync(n, [
        { action: 'add', phone: YOUSSEF.waId, fullName: 'Youssef Alami (Guéliz)', firstName: 'Youssef', at: min(-120) },
        { action: 'add', phone: KHADIJA.waId, fullName: 'Khadija Tazi', firstName: 'Khadija', at: min(-120) },
      ]),
    },
    {
      label: 'historyPhase1Chunk2',
      body: P.historyChunk(n, { phase: 1, chunkOrder: 2, progress: 70 }, [
        {
          waId: KHADIJA.waId,
          messages: [
            { wamid: 'wamid.DEMO-H-K1', fromCustomer: true, at: day(40), body: P.text('السلام، واش القفطان الأخضر مازال كاين؟') },
            { wamid: 'wamid.DEMO-H-K2', fromCustomer: false, at: day(40, 11), body: P.text('وعليكم السلام، إيه كاين، 1200 درهم') },
            { wamid: 'wamid.DEMO-H-K3', fromCustomer: true, at: day(40, 12), body: P.mediaPlaceholder, status: 'PLAYED' },
          ],
        },
      ]),
    },
    {
      label: 'historyPhase1Chunk1',
      body: P.historyChunk(n, { phase: 1, chunkOrder: 1, progress: 40 }, [
        {
          waId: YOUSSEF.waId,
          messages: [
            { wamid: 'wamid.DEMO-H-Y1', fromCustomer: true, at: day(75), body: P.text('slm, chhal livraison l Casa?') },
            { wamid: 'wamid.DEMO-H-Y2', fromCustomer: false, at: day(75, 11), body: P.text('35 dh, 48h. Merci!') },
          ],
        },
      ]),
    },
    {
      label: 'historyPhase0',
      body: P.historyChunk(n, { phase: 0, chunkOrder: 1, progress: 100 }, [
        { waId: YOUSSEF.waId, messages: [{ wamid: 'wamid.DEMO-H-Y3', fromCustomer: false, at: day(1), body: P.text('Votre commande est prête 🎁') }] },
      ]),
    },
    { label: 'historyRepeated', body: P.historyChunk(n, { phase: 1, chunkOrder: 1, progress: 40 }, [{ waId: YOUSSEF.waId, messages: [{ wamid: 'wamid.DEMO-H-Y1', fromCustomer: true, at: day(75), body: P.text('slm, chhal livraison l Casa?') }, { wamid: 'wamid.DEMO-H-Y2', fromCustomer: false, at: day(75, 11), body: P.text('35 dh, 48h. Merci!') }] }]) },
    { label: 'youssefDarijaLatin', body: P.inboundMessage(n, YOUSSEF, 'wamid.DEMO-L-Y1', min(-6), P.text('salam, wach kayn livraison l Marrakech lyoum?')) },
    { label: 'camilleFrench', body: P.inboundMessage(n, CAMILLE, 'wamid.DEMO-L-C1', min(-5), P.text('Bonjour, vous êtes ouverts le dimanche ?')) },
    { label: 'hamzaVoiceNote', body: P.inboundMessage(n, HAMZA, 'wamid.DEMO-L-H1', min(-4), P.voiceNote(DEMO_VOICE_MEDIA_ID, voiceSha256)) },
    {
      // The owner was quicker than the agent: Meta batches her question and the owner's echo in one
      // delivery, so the agent never answers her (the thread is paused in the same transaction).
      label: 'khadijaAndOwnerEcho',
      body: inOneDelivery(
        P.inboundMessage(n, KHADIJA, 'wamid.DEMO-L-K1', min(OWNER_ECHO_MINUTE - 1), P.text('السلام عليكم، بغيت نعرف شحال ثمن القفطان الأزرق؟')),
        P.echo(n, KHADIJA.waId, 'wamid.DEMO-E-K1', min(OWNER_ECHO_MINUTE), P.text('وعليكم السلام، 950 درهم، كاين المقاسات كاملين')),
      ),
    },
    { label: 'historyMessageRead', body: P.statusUpdate(n, 'wamid.DEMO-H-Y3', 'read', min(-1.5), YOUSSEF.waId) },
    { label: 'historyMessageDelivered', body: P.statusUpdate(n, 'wamid.DEMO-H-Y3', 'delivered', min(-1.6), YOUSSEF.waId) },
    { label: 'khadijaReacts', body: P.inboundMessage(n, KHADIJA, 'wamid.DEMO-L-K2', min(-1), { type: 'reaction', reaction: { message_id: 'wamid.DEMO-E-K1', emoji: '👍' } }) },
  ];
}
