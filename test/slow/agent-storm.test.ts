// The full-size "no talking over a human" storm (2,000 echoes against 400 in-flight generations):
// the same test as test/agent-race.test.ts, at the size the README quotes. Slow suite only.
process.env.RACE_ECHOES ??= '2000';
process.env.RACE_TURNS ??= '400';
await import('../agent-race.test.js');
