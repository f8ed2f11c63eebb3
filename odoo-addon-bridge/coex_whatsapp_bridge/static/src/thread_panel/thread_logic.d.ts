// Types for thread_logic.js so the TypeScript tests can import it (not shipped to Odoo's bundle).
// The shared thread view is re-exported from coex_thread_view.js, generated from ui-shared/src.
export * from '../../../../../ui-shared/src/index.js';
export const PANEL_MODELS: string[];
export function shouldShowPanel(model: unknown, resId: unknown): boolean;
export function jsonRpcBody(params: unknown, id?: number): { jsonrpc: '2.0'; method: 'call'; params: unknown; id: number };
export function unwrapJsonRpc(envelope: unknown): unknown;
