// Types of build.mjs for build.test.ts.
export const BUNDLES: ReadonlyArray<{ out: string; banner: string }>;
export const HUBSPOT_DIR: string;
export const ODOO_I18N_DIR: string;
export function odooPo(lang: 'fr' | 'ar'): string;
export function outputs(): Promise<Map<string, string>>;
export function staleOutputs(): Promise<string[]>;
