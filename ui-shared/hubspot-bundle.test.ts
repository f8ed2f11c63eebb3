import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('HubSpot card and the shared thread view', () => {
  // `hs project upload` sends hubspot-app/src only, and HubSpot bundles the card from there: every
  // file the card needs, the shared view included, must be inside it (docs/decisions/ui-shared-thread-view.md).
  it('bundles from files inside hubspot-app/src only, the vendored shared view among them', async () => {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: ['hubspot-app/src/app/cards/CoexThreadCard.tsx'],
      bundle: true,
      write: false,
      metafile: true,
      format: 'esm',
      jsx: 'automatic',
      // What the card's package.json lists: HubSpot's build installs those.
      external: ['react', 'react/*', '@hubspot/ui-extensions', '@hubspot/ui-extensions/*', 'zod'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((path) => !path.startsWith('hubspot-app/src/'))).toEqual([]);
    expect(inputs).toContain('hubspot-app/src/app/cards/lib/vendor/ui-shared/thread-view.ts');
  }, 60_000);
});
