import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The folders of core/src form layers; a few import edges would tie them in a knot again: language/
 * importing a capability, agent/ and campaigns/ importing each other, a capability module importing
 * another's (they are composed by runtime.ts). This test reads every import of every file (tests
 * included) and fails on a forbidden edge, naming the file.
 */
const SRC = dirname(fileURLToPath(import.meta.url));

interface Edge {
  /** The importing file, relative to core/src (slashes). */
  file: string;
  /** The first folder of the importing and of the imported file ('' for files at core/src's top). */
  from: string;
  to: string;
  /** The imported file, relative to core/src (as written: `.js`). */
  target: string;
  specifier: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return /\.tsx?$/.test(e.name) ? [path] : [];
  });
}

function folderOf(pathFromSrc: string): string {
  const parts = pathFromSrc.split('/');
  return parts.length > 1 ? parts[0]! : '';
}

// Static `import … from`, `export … from`, side-effect `import '…'` and dynamic `import('…')`.
const IMPORT = /(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g;

/** Every relative import inside core/src (imports leaving core/src, e.g. to test/, are left out). */
function importEdges(): Edge[] {
  const edges: Edge[] = [];
  for (const path of sourceFiles(SRC)) {
    const file = relative(SRC, path).split(sep).join('/');
    for (const match of readFileSync(path, 'utf8').matchAll(IMPORT)) {
      const specifier = match[1]!;
      if (!specifier.startsWith('.')) continue;
      const target = relative(SRC, resolve(dirname(path), specifier)).split(sep).join('/');
      if (target.startsWith('..')) continue;
      edges.push({ file, from: folderOf(file), to: folderOf(target), target, specifier });
    }
  }
  return edges;
}

/** Each rule names the edges it forbids and why. */
const FORBIDDEN: Array<{ forbids(e: Edge): boolean; why: string }> = [
  { forbids: (e) => e.from === 'language' && e.to !== 'language', why: 'language/ is below every capability: it imports nothing else from core/src' },
  { forbids: (e) => e.from === 'agent' && e.to === 'campaigns', why: 'agent/ and campaigns/ do not import each other (shared language handling is in language/)' },
  { forbids: (e) => e.from === 'campaigns' && e.to === 'agent', why: 'agent/ and campaigns/ do not import each other (shared language handling is in language/)' },
  {
    // The conversation store is written by the ingestion inside a delivery's transaction; what it
    // records for other capabilities (consent signals) lives in store/ too, so nothing above it is
    // loaded with it. (agent/provider.ts is read for a type only: the tenant profile it stores.)
    forbids: (e) => e.from === 'store' && ['campaigns', 'crm', 'outbound', 'transcription', 'worker', 'webhooks', 'api', 'console', 'admin', 'demo'].includes(e.to),
    why: 'store/ is below the capabilities built on it: it imports none of them',
  },
  {
    // A capability module (`<folder>/capability.ts`) is composed by the root (runtime.ts); what one
    // capability needs from another is passed to it there, so capability modules never import each other.
    forbids: (e) => e.from !== '' && e.to !== e.from && /(^|\/|-)capability\.js$/.test(e.target) && e.target !== 'capability.js',
    why: 'only the root (runtime.ts) imports capability modules of other folders',
  },
];

describe('core/src layering', () => {
  const edges = importEdges();

  it('reads the imports it checks (the scan is not vacuous)', () => {
    // Known edges: the agent and the campaigns use language/, language/ uses itself.
    expect(edges).toContainEqual(expect.objectContaining({ file: 'agent/orchestrator.ts', to: 'language' }));
    expect(edges).toContainEqual(expect.objectContaining({ file: 'campaigns/opt-outs.ts', to: 'language' }));
    expect(edges).toContainEqual(expect.objectContaining({ file: 'language/detect.ts', to: 'language' }));
    expect(edges).toContainEqual(expect.objectContaining({ file: 'store/apply.ts', target: 'store/consent.js' }));
    expect(edges).toContainEqual(expect.objectContaining({ file: 'runtime.ts', target: 'crm/capability.js' }));
    // `await import('./transcription/local-whisper.js')`: dynamic imports count too.
    expect(edges.some((e) => e.specifier.endsWith('/local-whisper.js'))).toBe(true);
  });

  it('has no forbidden import edge', () => {
    const found = edges.flatMap((e) => FORBIDDEN.filter((r) => r.forbids(e)).map((r) => `${e.file} imports '${e.specifier}': ${r.why}`));
    expect(found).toEqual([]);
  });
});
