/**
 * Per-table read/write locks inside one consumer process. The runner writes several partitions at
 * once; row changes of a table (shared) run side by side, while a TRUNCATE of that table
 * (exclusive) waits for the row writes in progress and holds new ones off, so it sees every row
 * stored before it and no row write slips in between its read and its soft-deletes. Requests are
 * served in arrival order, so a waiting TRUNCATE is not starved. (Across processes the version
 * guard on every row write still refuses lost updates; see warehouse-sink.ts.)
 */
export class TableLocks {
  private readonly tables = new Map<string, { exclusiveTail: Promise<void>; readers: Set<Promise<unknown>> }>();

  /** Runs `work` holding shared locks on `tables`. */
  async shared<T>(tables: readonly string[], work: () => Promise<T>): Promise<T> {
    const states = [...new Set(tables)].map((table) => this.state(table));
    // Wait for every exclusive holder queued before us; if another one queued meanwhile, wait for it
    // too. The check and the registration below happen in one synchronous step.
    for (;;) {
      const tails = states.map((state) => state.exclusiveTail);
      await Promise.all(tails);
      if (states.every((state, i) => state.exclusiveTail === tails[i])) break;
    }
    const running = work();
    const settled = running.then(() => undefined, () => undefined);
    for (const state of states) state.readers.add(settled);
    try {
      return await running;
    } finally {
      for (const state of states) state.readers.delete(settled);
    }
  }

  /** Runs `work` holding the exclusive lock on `table`. */
  async exclusive<T>(table: string, work: () => Promise<T>): Promise<T> {
    const state = this.state(table);
    const previous = state.exclusiveTail;
    let release!: () => void;
    // Readers arriving from now on wait for us.
    state.exclusiveTail = new Promise<void>((resolve) => (release = resolve));
    try {
      await previous;
      while (state.readers.size > 0) await Promise.all([...state.readers]);
      return await work();
    } finally {
      release();
    }
  }

  private state(table: string) {
    let state = this.tables.get(table);
    if (!state) this.tables.set(table, (state = { exclusiveTail: Promise.resolve(), readers: new Set() }));
    return state;
  }
}
