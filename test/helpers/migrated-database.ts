import { migrateToLatest, openDatabase, type DatabaseHandle } from '../../core/src/db/index.js';
import { createTestDatabase, type BackendName } from './backends.js';

/** A fresh test database with the schema, and a handle on it: for tests of one module, no runtime. */
export interface MigratedDatabase {
  databaseUrl: string;
  handle: DatabaseHandle;
  /** Closes the handle and drops the database. */
  close(): Promise<void>;
}

export async function openMigratedDatabase(backend: BackendName): Promise<MigratedDatabase> {
  const database = await createTestDatabase(backend);
  const handle = await openDatabase({ databaseUrl: database.databaseUrl });
  await migrateToLatest(handle.db);
  return {
    databaseUrl: database.databaseUrl,
    handle,
    close: async () => {
      await handle.close();
      await database.drop();
    },
  };
}
