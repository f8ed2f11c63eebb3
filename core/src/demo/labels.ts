/**
 * Everything the demo prints for the shop owner, in their language. The customers' and the agent's
 * own words are never translated: they are the conversation.
 */
export const DEMO_LANGUAGES = ['en', 'fr'] as const;
export type DemoLanguage = (typeof DEMO_LANGUAGES)[number];

export type DeliveryKey =
  | 'contactSync'
  | 'historyPhase1Chunk2'
  | 'historyPhase1Chunk1'
  | 'historyPhase0'
  | 'historyRepeated'
  | 'youssefDarijaLatin'
  | 'camilleFrench'
  | 'hamzaVoiceNote'
  | 'khadijaAndOwnerEcho'
  | 'historyMessageRead'
  | 'historyMessageDelivered'
  | 'khadijaReacts';

export interface DemoLabels {
  heading: (database: string, endpoint: string) => string;
  deliveries: Record<DeliveryKey, string>;
  waiting: string;
  who: { customer: string; customerHistory: string; businessHistory: string; owner: string; agent: string; api: string };
  agent: string;
  botState: (state: string, pausedUntil: string | null) => string;
  voiceNote: (transcript: string) => string;
  voiceNotePending: (state: string) => string;
  voiceNoteNotTranscribed: (reason: string) => string;
  deleted: string;
  mediaPlaceholder: string;
  reacted: (emoji: string) => string;
  historySync: (status: string, progress: number, chunks: number, messages: number) => string;
  agentNote: string;
  transcriptionNote: (engine: string) => string;
  noTranscriptionNote: string;
  modelMissing: (path: string) => string;
}

const EN: DemoLabels = {
  heading: (database, endpoint) => `CoEx demo on ${database}, webhook endpoint ${endpoint}`,
  deliveries: {
    contactSync: 'contact sync from the phone book',
    historyPhase1Chunk2: 'history chunk 2 of phase 1 (arrives first)',
    historyPhase1Chunk1: 'history chunk 1 of phase 1',
    historyPhase0: 'history chunk 1 of phase 0 (sync complete)',
    historyRepeated: 'history chunk repeated by Meta',
    youssefDarijaLatin: 'Youssef writes in Darija (Latin script)',
    camilleFrench: 'Camille writes in French',
    hamzaVoiceNote: 'Hamza sends a voice note',
    khadijaAndOwnerEcho: 'Khadija writes in Darija (Arabic script) and the owner answers her from the phone app at once (echo, same delivery)',
    historyMessageRead: "statuses of yesterday's message to Youssef, synced from the phone's history (read arrives before delivered)",
    historyMessageDelivered: 'delivered, late',
    khadijaReacts: 'Khadija reacts',
  },
  waiting: 'waiting for the agent and the voice note…',
  who: { customer: '👤 customer', customerHistory: '🕓 customer', businessHistory: '🕓 business', owner: '📱 owner (phone app)', agent: '🤖 agent', api: '🔌 API' },
  agent: 'agent',
  botState: (state, until) =>
    state === 'paused' && until ? `paused until ${until}` : ({ active: 'active', paused: 'paused', handoff_requested: 'hand-off requested', off: 'off' } as Record<string, string>)[state] ?? state,
  voiceNote: (t) => `🎙 voice note: “${t}”`,
  voiceNotePending: (state) => `🎙 voice note (${state})`,
  voiceNoteNotTranscribed: (reason) => `🎙 voice note, not transcribed: ${reason}`,
  deleted: '(deleted)',
  mediaPlaceholder: '📎 media (arrives later, or never for media older than 14 days)',
  reacted: (emoji) => `reacted ${emoji}`,
  historySync: (status, progress, chunks, messages) => `History sync: ${status}, ${progress}% (${chunks} chunks, ${messages} messages)`,
  agentNote: "The agent is the offline FAQ responder answering from examples/knowledge/atlas-shop.json; Meta's API is a local stand-in.",
  transcriptionNote: (engine) => `Voice notes are transcribed on this machine by ${engine}.`,
  noTranscriptionNote: 'Voice notes are not transcribed: set WHISPER_MODEL_PATH (or --whisper-model) to a ggml Whisper model on disk to see the transcript.',
  modelMissing: (path) => `No Whisper model at ${path}: the voice note is not transcribed.`,
};

const FR: DemoLabels = {
  heading: (database, endpoint) => `Démo CoEx sur ${database}, point d'entrée des webhooks ${endpoint}`,
  deliveries: {
    contactSync: 'synchronisation des contacts du répertoire',
    historyPhase1Chunk2: "historique : lot 2 de la phase 1 (arrive en premier)",
    historyPhase1Chunk1: 'historique : lot 1 de la phase 1',
    historyPhase0: 'historique : lot 1 de la phase 0 (synchronisation terminée)',
    historyRepeated: 'historique : lot renvoyé par Meta',
    youssefDarijaLatin: 'Youssef écrit en darija (lettres latines)',
    camilleFrench: 'Camille écrit en français',
    hamzaVoiceNote: 'Hamza envoie un message vocal',
    khadijaAndOwnerEcho: "Khadija écrit en darija (lettres arabes) et le gérant lui répond aussitôt depuis l'application (écho, même envoi)",
    historyMessageRead: "statuts du message d'hier à Youssef, repris de l'historique du téléphone (« lu » arrive avant « distribué »)",
    historyMessageDelivered: 'distribué, en retard',
    khadijaReacts: 'Khadija réagit',
  },
  waiting: "attente de l'agent et du message vocal…",
  who: { customer: '👤 client', customerHistory: '🕓 client', businessHistory: '🕓 boutique', owner: '📱 gérant (appli)', agent: '🤖 agent', api: '🔌 API' },
  agent: 'agent',
  botState: (state, until) =>
    state === 'paused' && until ? `en pause jusqu'à ${until}` : ({ active: 'actif', paused: 'en pause', handoff_requested: 'relais humain demandé', off: 'désactivé' } as Record<string, string>)[state] ?? state,
  voiceNote: (t) => `🎙 message vocal : « ${t} »`,
  voiceNotePending: (state) => `🎙 message vocal (${state})`,
  voiceNoteNotTranscribed: (reason) => `🎙 message vocal non transcrit : ${reason}`,
  deleted: '(supprimé)',
  mediaPlaceholder: '📎 média (arrive plus tard, ou jamais pour un média de plus de 14 jours)',
  reacted: (emoji) => `a réagi ${emoji}`,
  historySync: (status, progress, chunks, messages) =>
    `Synchronisation de l'historique : ${({ complete: 'terminée', in_progress: 'en cours', not_requested: 'non demandée', declined: 'refusée' } as Record<string, string>)[status] ?? status}, ${progress} % (${chunks} lots, ${messages} messages)`,
  agentNote: "L'agent est le répondeur FAQ hors ligne, qui répond depuis examples/knowledge/atlas-shop.json ; l'API de Meta est simulée en local.",
  transcriptionNote: (engine) => `Les messages vocaux sont transcrits sur cette machine par ${engine}.`,
  noTranscriptionNote:
    'Les messages vocaux ne sont pas transcrits : indiquez dans WHISPER_MODEL_PATH (ou --whisper-model) un modèle Whisper ggml présent sur le disque pour voir la transcription.',
  modelMissing: (path) => `Aucun modèle Whisper à ${path} : le message vocal n'est pas transcrit.`,
};

export const DEMO_LABELS: Record<DemoLanguage, DemoLabels> = { en: EN, fr: FR };

/**
 * The owner's language when none is given: the locale of the shell (LC_ALL, LC_MESSAGES, LANG),
 * French for fr_*, English otherwise.
 */
export function demoLanguageFromEnv(env: NodeJS.ProcessEnv = process.env): DemoLanguage {
  const locale = env.LC_ALL || env.LC_MESSAGES || env.LANG || '';
  return /^fr\b|^fr_/i.test(locale) ? 'fr' : 'en';
}
