import { describe, expect, it } from 'vitest';
import { staleOutputs } from './build.mjs';

describe('ui-shared build outputs', () => {
  // CI runs this: a change to ui-shared/src without `npm run build -w ui-shared` fails here.
  it('are committed as the sources give them in every UI', async () => {
    expect(await staleOutputs()).toEqual([]);
  }, 60_000);
});
