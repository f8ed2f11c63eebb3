/** Speech-to-text providers behind one interface: Gemini audio and a local Whisper. */

export interface TranscriptionInput {
  /** The voice note as received: OGG/Opus bytes. */
  audio: Buffer;
  mimeType: string;
  /** How Darija is written in the transcript (tenant option). */
  darijaScript: 'arabic' | 'latin';
  /** Optional translation target shown beside the verbatim transcript. */
  translateTo: 'fr' | 'en' | null;
}

export interface TranscriptionResult {
  text: string;
  /** BCP-47-ish language of the speech as the provider reports it ('ar-MA', 'fr', …), null when unknown. */
  language: string | null;
  provider: string;
  model: string;
  /** Seconds of audio. */
  durationSeconds: number | null;
  translation: string | null;
}

export class TranscriptionError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly code: string) {
    super(message);
    this.name = 'TranscriptionError';
  }
}

export interface Transcriber {
  readonly provider: string;
  readonly model: string;
  transcribe(input: TranscriptionInput, signal?: AbortSignal): Promise<TranscriptionResult>;
}
