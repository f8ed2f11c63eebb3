import { dropStaleTestDatabases } from './helpers/backends.js';

/** Runs once before the suite: clears test databases a previous run could not drop. */
export default async function setup(): Promise<void> {
  await dropStaleTestDatabases();
}
