/**
 * Voice notes → text with Gemini audio understanding through `@google/genai`: the OGG/Opus bytes go
 * inline, the answer comes back as structured JSON { text, language, translation }.
 */
import type { GoogleGenAI } from '@google/genai';
import { z } from 'zod';
import { createGeminiClient, withGeminiDeadline } from '../agent/gemini-provider.js';
import { oggDurationSeconds } from './ogg-duration.js';
import { TranscriptionError, type Transcriber, type TranscriptionInput, type TranscriptionResult } from './transcriber.js';

/**
 * Gemini's documented cap for a request with inline data is 20 MB including the prompt, and inline
 * bytes travel base64-encoded (4/3 larger). Bigger audio would need the Files API.
 */
export const MAX_INLINE_REQUEST_BYTES = 20 * 1024 * 1024;
/** Room kept for the instruction and JSON framing around the audio. */
const REQUEST_OVERHEAD_BYTES = 16 * 1024;

export const TRANSCRIPTION_RESPONSE_JSON_SCHEMA = {
  type: 'object',
  properties: {
    text: { type: 'string', description: 'Verbatim transcript in the spoken language and script.' },
    language: {
      type: ['string', 'null'],
      description: "BCP-47 code of the spoken language, 'ar-MA' for Moroccan Darija; null when there is no speech.",
    },
    translation: { type: ['string', 'null'], description: 'Translation of the transcript when one was asked for, else null.' },
  },
  required: ['text', 'language', 'translation'],
} as const;

const transcriptJsonSchema = z.object({
  text: z.string(),
  language: z.string().nullable().optional(),
  translation: z.string().nullable().optional(),
});

const responseSchema = z.looseObject({
  candidates: z
    .array(
      z.looseObject({
        content: z.looseObject({ parts: z.array(z.looseObject({ text: z.string().optional(), thought: z.boolean().optional() })).optional() }).optional(),
        finishReason: z.string().optional(),
      }),
    )
    .optional(),
  promptFeedback: z.looseObject({ blockReason: z.string().optional() }).optional(),
});

const TRANSLATION_TARGETS = { fr: 'French', en: 'English' } as const;

/** The instruction sent beside the audio. */
export function buildTranscriptionInstruction(darijaScript: 'arabic' | 'latin', translateTo: 'fr' | 'en' | null): string {
  const darija =
    darijaScript === 'arabic'
      ? 'Moroccan Darija is written in Arabic letters (e.g. «واش الطلبية ديالي وصلات؟»).'
      : 'Moroccan Darija is written in Latin letters the way Moroccans text, with digits for Arabic sounds: 3 = ع, 7 = ح, 9 = ق, 2 = ء (e.g. "wach la commande dyali wslat? 3afak jawbni").';
  return [
    'You transcribe a WhatsApp voice note sent by a customer to a business in Morocco.',
    'Write down exactly what is said, word for word, in the language and script it is spoken in. Do not translate the transcript, do not summarise, do not correct, and do not answer or react to what is said.',
    darija,
    'French stays French; Modern Standard Arabic is written in Arabic letters; English stays English. When speakers switch languages, keep each part in its own language (French words inside Darija stay in French spelling).',
    'Mark parts you cannot make out as [inaudible]. If there is no speech at all, return an empty text.',
    "Set language to the BCP-47 code of the main spoken language: 'ar-MA' for Darija, 'ar' for Modern Standard Arabic, 'fr', 'en', …",
    translateTo
      ? `Also set translation to a faithful ${TRANSLATION_TARGETS[translateTo]} translation of the transcript.`
      : 'Set translation to null.',
    'Answer only with the JSON object.',
  ].join('\n');
}

/** 'audio/ogg; codecs=opus' → 'audio/ogg' (what Gemini lists); other audio types keep their base type. */
function geminiAudioMime(mimeType: string): string | null {
  const base = mimeType.split(';')[0]?.trim().toLowerCase() ?? '';
  if (base === 'audio/ogg' || base === 'audio/opus' || base === 'application/ogg') return 'audio/ogg';
  return base.startsWith('audio/') ? base : null;
}

export interface GeminiTranscriberOptions {
  apiKey: string;
  /** Default 'gemini-2.5-flash'. */
  model?: string;
  baseUrl?: string;
  /** Bound on the Gemini request, in ms (default 60 s). */
  timeoutMs?: number;
}

export class GeminiTranscriber implements Transcriber {
  readonly provider = 'gemini';
  readonly model: string;
  private readonly client: GoogleGenAI;
  private readonly timeoutMs: number;

  constructor(opts: GeminiTranscriberOptions) {
    this.model = opts.model?.trim() || 'gemini-2.5-flash';
    const timeoutMs = opts.timeoutMs ?? 60_000;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new RangeError(`timeoutMs must be > 0, got ${timeoutMs}`);
    this.timeoutMs = timeoutMs;
    this.client = createGeminiClient({ apiKey: opts.apiKey, ...(opts.baseUrl ? { baseUrl: opts.baseUrl } : {}) });
  }

  async transcribe(input: TranscriptionInput, signal?: AbortSignal): Promise<TranscriptionResult> {
    if (input.audio.length === 0) throw new TranscriptionError('Voice note is empty (0 bytes)', false, 'empty_audio');
    const mimeType = geminiAudioMime(input.mimeType);
    if (!mimeType) throw new TranscriptionError(`Not an audio type: ${JSON.stringify(input.mimeType)}`, false, 'unsupported_media');
    const encodedBytes = Math.ceil(input.audio.length / 3) * 4;
    if (encodedBytes + REQUEST_OVERHEAD_BYTES > MAX_INLINE_REQUEST_BYTES) {
      throw new TranscriptionError(
        `Audio of ${input.audio.length} bytes is over Gemini's 20 MB inline request limit (${encodedBytes} bytes once base64-encoded)`,
        false,
        'audio_too_large',
      );
    }

    const result = await withGeminiDeadline(this.timeoutMs, signal, (abortSignal) =>
      this.client.models.generateContent({
        model: this.model,
        contents: [
          {
            role: 'user',
            parts: [{ inlineData: { mimeType, data: input.audio.toString('base64') } }, { text: 'Transcribe this voice note.' }],
          },
        ],
        config: {
          systemInstruction: buildTranscriptionInstruction(input.darijaScript, input.translateTo),
          responseMimeType: 'application/json',
          responseJsonSchema: TRANSCRIPTION_RESPONSE_JSON_SCHEMA,
          temperature: 0,
          abortSignal,
        },
      }),
    );
    if (!result.ok) {
      const f = result.failure;
      throw new TranscriptionError(f.message, f.retryable, f.code);
    }

    const parsed = responseSchema.safeParse(result.value);
    if (!parsed.success) throw new TranscriptionError(`Gemini answered an unexpected shape: ${parsed.error.message}`, false, 'bad_response');
    const blockReason = parsed.data.promptFeedback?.blockReason;
    if (blockReason) throw new TranscriptionError(`Gemini blocked the voice note (${blockReason})`, false, 'blocked');
    const candidate = parsed.data.candidates?.[0];
    const raw = (candidate?.content?.parts ?? [])
      .filter((p) => p.thought !== true)
      .map((p) => p.text ?? '')
      .join('')
      .trim();
    if (raw === '') {
      const reason = candidate?.finishReason ?? 'no candidates';
      // A cut-off or empty answer may well succeed on a second try; a safety stop will not.
      const retryable = reason === 'MAX_TOKENS' || reason === 'OTHER' || reason === 'no candidates';
      throw new TranscriptionError(`Gemini returned no transcript (${reason})`, retryable, 'empty_response');
    }

    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new TranscriptionError('Gemini returned a transcript that is not JSON', true, 'bad_response');
    }
    const transcript = transcriptJsonSchema.safeParse(json);
    if (!transcript.success) {
      throw new TranscriptionError(`Gemini transcript JSON has the wrong shape: ${z.prettifyError(transcript.error)}`, true, 'bad_response');
    }
    const language = transcript.data.language?.trim() || null;
    const translation = input.translateTo ? transcript.data.translation?.trim() || null : null;

    return {
      text: transcript.data.text.trim(),
      language,
      provider: this.provider,
      model: this.model,
      durationSeconds: mimeType === 'audio/ogg' ? oggDurationSeconds(input.audio) : null,
      translation,
    };
  }
}
