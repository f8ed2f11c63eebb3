// Types of build.mjs for build.test.ts.
export const BUNDLES: ReadonlyArray<{ out: string; banner: string }>;
export const HUBSPOT_DIR: string;
export function outputs(): Promise<Map<string, string>>;
export function staleOutputs(): Promise<string[]>;
