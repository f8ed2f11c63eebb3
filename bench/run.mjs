// `npm run bench`: every benchmark, each printing its figures as a ratio against a baseline measured
// in the same run. Select some with BENCH_ONLY=webhook-ack,history-import.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeBenchBackends } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const files = readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).sort();
console.log(`CoEx benchmarks — node ${process.version}, ${new Date().toISOString()}`);
for (const file of files) {
  const name = file.replace('.bench.mjs', '');
  if (only && !only.includes(name)) continue;
  const mod = await import(join(here, file));
  await mod.run();
}
await closeBenchBackends();
process.exit(0);
