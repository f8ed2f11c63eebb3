import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';
import type { PGlite, Transaction } from '@electric-sql/pglite';

/**
 * Kysely dialect for embedded PGlite that is safe under concurrency.
 *
 * Why not kysely's own PGliteDialect: it hands every caller one shared connection object that keeps
 * "the current transaction" in a field, so a query issued by another request while a transaction is
 * open runs *inside* that transaction, and two overlapping transactions clobber each other's state
 * (see docs/decisions/pglite-dialect.md). Here every acquire gets its own connection object: plain
 * queries go through `pglite.query`, which waits for PGlite's transaction mutex, and a transaction
 * holds that mutex through `pglite.transaction()` until Kysely commits or rolls back. pg-boss's PGlite
 * adapter goes through the same mutex, so nothing interleaves with an open transaction.
 */
export class SafePGliteDialect implements Dialect {
  constructor(private readonly pglite: PGlite) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new SafePGliteDriver(this.pglite);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
}

class SafePGliteDriver implements Driver {
  constructor(private readonly pglite: PGlite) {}
  async init(): Promise<void> {
    await this.pglite.waitReady;
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new SafePGliteConnection(this.pglite);
  }
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as SafePGliteConnection).begin();
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as SafePGliteConnection).finish(true);
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as SafePGliteConnection).finish(false);
  }
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {
    // The owner of the PGlite instance closes it (the runtime shares it with pg-boss).
  }
}

class RollbackSignal extends Error {}

class SafePGliteConnection implements DatabaseConnection {
  private tx: Transaction | undefined;
  private settle: ((commit: boolean) => void) | undefined;
  private done: Promise<void> | undefined;

  constructor(private readonly pglite: PGlite) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const runner = this.tx ?? this.pglite;
    const result = await runner.query<R>(compiled.sql, compiled.parameters as unknown[], { rowMode: 'object' });
    return {
      rows: result.rows,
      ...(result.affectedRows !== undefined ? { numAffectedRows: BigInt(result.affectedRows) } : {}),
    };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('Streaming is not supported on PGlite');
  }

  async begin(): Promise<void> {
    let began!: () => void;
    const started = new Promise<void>((resolve) => (began = resolve));
    const outcome = new Promise<boolean>((resolve) => (this.settle = resolve));
    this.done = this.pglite
      .transaction(async (tx) => {
        this.tx = tx;
        began();
        if (!(await outcome)) throw new RollbackSignal();
      })
      .then(
        () => undefined,
        (error: unknown) => {
          if (!(error instanceof RollbackSignal)) throw error;
        },
      );
    // If BEGIN itself fails, surface it instead of waiting forever.
    await Promise.race([started, this.done]);
  }

  async finish(commit: boolean): Promise<void> {
    this.settle?.(commit);
    try {
      await this.done;
    } finally {
      this.tx = undefined;
      this.settle = undefined;
      this.done = undefined;
    }
  }
}
