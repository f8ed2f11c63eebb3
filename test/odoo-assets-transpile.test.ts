// The Odoo panel's modules as Odoo itself loads them: Odoo's own js_transpiler.py (from the real
// Odoo 19 source in COEX_REAL_CRMS) turns the generated shared view (static/src/vendor) and
// thread_logic.js into odoo.define() modules, which are then run with a minimal module loader.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const STATIC = fileURLToPath(new URL('../odoo-addon-bridge/coex_whatsapp_bridge/static/src/', import.meta.url));
const REAL_CRMS = process.env.COEX_REAL_CRMS;
const TARBALL = REAL_CRMS ? join(REAL_CRMS, 'odoo/odoo-19.0-community-trimmed.tar.gz') : '';
if (!TARBALL || !existsSync(TARBALL)) {
  console.warn('SKIP Odoo transpiler test: set COEX_REAL_CRMS to the real-crms folder (it holds the Odoo 19 source tarball).');
}

// js_transpiler.py imports OrderedSet from odoo.tools.misc, and nothing else of Odoo.
const TRANSPILE = `
import importlib.util, json, sys, types
for name in ("odoo", "odoo.tools"):
    sys.modules[name] = types.ModuleType(name)
misc = types.ModuleType("odoo.tools.misc"); misc.OrderedSet = set; sys.modules["odoo.tools.misc"] = misc
spec = importlib.util.spec_from_file_location("jt", sys.argv[1]); jt = importlib.util.module_from_spec(spec); spec.loader.exec_module(jt)
out = {}
for rel in sys.argv[3:]:
    with open(sys.argv[2] + rel, encoding="utf-8") as f:
        out[rel] = jt.transpile_javascript("/coex_whatsapp_bridge/static/src/" + rel, f.read())
print(json.dumps(out))
`;

describe.skipIf(!TARBALL || !existsSync(TARBALL))("Odoo panel modules through Odoo's own transpiler", () => {
  let dir = '';
  let transpiled: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coex-odoo-jt-'));
    await run('tar', ['xzf', TARBALL, '-C', dir, '--wildcards', '*odoo/tools/js_transpiler.py'], { timeout: 120_000 });
    const transpiler = join(dir, 'odoo-19.0-community-trimmed/odoo/tools/js_transpiler.py');
    const { stdout } = await run('python3', ['-B', '-c', TRANSPILE, transpiler, STATIC, 'vendor/coex_thread_view.js', 'thread_panel/thread_logic.js'], { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 });
    transpiled = JSON.parse(stdout) as Record<string, string>;
  }, 180_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('defines the shared view as an Odoo module that thread_logic depends on and re-exports', () => {
    const modules = new Map<string, { deps: string[]; factory: (require: (name: string) => unknown) => Record<string, unknown> }>();
    const odoo = { define: (name: string, deps: string[], factory: (require: (name: string) => unknown) => Record<string, unknown>) => modules.set(name, { deps, factory }) };
    for (const code of Object.values(transpiled)) runInNewContext(code, { odoo, Intl, Date, Object, Array, Set, Map, Number, String, Math, RegExp });
    const loaded = new Map<string, Record<string, unknown>>();
    const load = (name: string): Record<string, unknown> => {
      const known = loaded.get(name);
      if (known) return known;
      const mod = modules.get(name);
      if (!mod) throw new Error(`module ${name} was not defined`);
      const exports = mod.factory(load);
      loaded.set(name, exports);
      return exports;
    };
    expect(modules.get('@coex_whatsapp_bridge/thread_panel/thread_logic')?.deps).toEqual(['@coex_whatsapp_bridge/vendor/coex_thread_view']);
    const logic = load('@coex_whatsapp_bridge/thread_panel/thread_logic') as {
      translator: (locale: string) => (key: string) => string;
      shouldShowPanel: (model: string, id: number) => boolean;
      composerMode: (payload: unknown, now: number) => { mode: string };
    };
    expect(logic.translator('fr_FR')('send')).toBe('Envoyer');
    expect(logic.shouldShowPanel('res.partner', 7)).toBe(true);
    expect(logic.composerMode({ thread: { id: 't', window: { open: false } } }, Date.now()).mode).toBe('template');
  });
});
