/**
 * The ledger of `deno task migrate` in the target PostgreSQL database: for
 * each SQLite file copied (by absolute path), the cursor of the last
 * reading copied and how many were copied. It is saved after each batch
 * has been committed, so a copy stopped anywhere resumes after the last
 * saved batch; a batch committed but not yet recorded is copied again and
 * counted as duplicates by the store.
 *
 * @module
 */

import { connect, type Sql } from "./postgres_schema.ts";

/** How far a source has been copied. */
export interface ImportProgress {
  readonly cursor: number;
  readonly copied: number;
}

/** The ledger; open the target store first (it creates the table). */
export class ImportLedger {
  #sql: Sql;

  constructor(url: string, password: string | undefined) {
    this.#sql = connect(url, password, 1);
  }

  /** Where the copy of `source` stands (cursor 0 when never started). */
  async get(source: string): Promise<ImportProgress> {
    const [row] = await this.#sql<ImportProgress[]>`
      SELECT cursor, copied FROM vigia_imports WHERE source = ${source}`;
    return row ?? { cursor: 0, copied: 0 };
  }

  /** Records that `source` is copied up to `progress.cursor`. */
  async save(source: string, progress: ImportProgress): Promise<void> {
    await this.#sql`
      INSERT INTO vigia_imports (source, cursor, copied)
      VALUES (${source}, ${progress.cursor}, ${progress.copied})
      ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor, copied = excluded.copied`;
  }

  async close(): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }
}
