/**
 * The watcher's state, an SQLite file in `--state DIR` (`watch.sqlite`, WAL): the last change
 * sequence number handled, and one row per study with its state and reason. A study's row and
 * the sequence number after it are written in one transaction, after its results are stored in
 * the PACS — so a kill at any instant either finds the change still pending (the study is done
 * again, and its results, with the same UIDs, are stored once) or finds it done.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

/** `done`: results stored; `skipped`: nothing to read (reason); `failed`: an error (reason). */
export type StudyState = 'done' | 'skipped' | 'failed';

export interface StudyRow {
  /** The PACS' id of the study (Orthanc's). */
  id: string;
  studyUid: string | null;
  state: StudyState;
  reason: string | null;
  seriesUid: string | null;
  any: number | null;
  flag: boolean | null;
  srUid: string | null;
  scUid: string | null;
  modelHash: string;
  attempts: number;
  /** ISO times: first seen stable, processing started, finished. */
  received: string | null;
  started: string | null;
  finished: string | null;
  seconds: number | null;
}

export const STATE_FILE = 'watch.sqlite';

interface RawRow {
  id: string;
  study_uid: string | null;
  state: StudyState;
  reason: string | null;
  series_uid: string | null;
  any_p: number | null;
  flag: number | null;
  sr_uid: string | null;
  sc_uid: string | null;
  model_hash: string;
  attempts: number;
  received: string | null;
  started: string | null;
  finished: string | null;
  seconds: number | null;
}

function fromRaw(r: RawRow): StudyRow {
  return {
    id: r.id,
    studyUid: r.study_uid,
    state: r.state,
    reason: r.reason,
    seriesUid: r.series_uid,
    any: r.any_p,
    flag: r.flag === null ? null : r.flag === 1,
    srUid: r.sr_uid,
    scUid: r.sc_uid,
    modelHash: r.model_hash,
    attempts: r.attempts,
    received: r.received,
    started: r.started,
    finished: r.finished,
    seconds: r.seconds,
  };
}

export class WatchState {
  private readonly db: Database.Database;
  readonly file: string;

  /** Opens (or creates) `DIR/watch.sqlite`. */
  constructor(dir: string) {
    mkdirSync(resolve(dir), { recursive: true });
    this.file = join(resolve(dir), STATE_FILE);
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS studies (
        id TEXT PRIMARY KEY, study_uid TEXT, state TEXT NOT NULL, reason TEXT,
        series_uid TEXT, any_p REAL, flag INTEGER, sr_uid TEXT, sc_uid TEXT,
        model_hash TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        received TEXT, started TEXT, finished TEXT, seconds REAL
      );`);
  }

  /** The last change sequence number handled (null before the first). */
  lastSeq(): number | null {
    const r = this.db.prepare('SELECT value FROM meta WHERE key = ?').get('last_seq') as
      | { value: string }
      | undefined;
    return r === undefined ? null : Number(r.value);
  }

  setLastSeq(seq: number): void {
    this.db
      .prepare(
        'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
      )
      .run('last_seq', String(seq));
  }

  study(id: string): StudyRow | null {
    const r = this.db.prepare('SELECT * FROM studies WHERE id = ?').get(id) as RawRow | undefined;
    return r === undefined ? null : fromRaw(r);
  }

  studies(): StudyRow[] {
    return (this.db.prepare('SELECT * FROM studies ORDER BY finished, id').all() as RawRow[]).map(
      fromRaw,
    );
  }

  /** Records a study's outcome and, in the same transaction, the sequence number after it. */
  finish(row: StudyRow, seq: number | null): void {
    const tx = this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO studies (id, study_uid, state, reason, series_uid, any_p, flag, sr_uid, sc_uid,
             model_hash, attempts, received, started, finished, seconds)
           VALUES (@id, @study_uid, @state, @reason, @series_uid, @any_p, @flag, @sr_uid, @sc_uid,
             @model_hash, @attempts, @received, @started, @finished, @seconds)
           ON CONFLICT(id) DO UPDATE SET study_uid = excluded.study_uid, state = excluded.state,
             reason = excluded.reason, series_uid = excluded.series_uid, any_p = excluded.any_p,
             flag = excluded.flag, sr_uid = excluded.sr_uid, sc_uid = excluded.sc_uid,
             model_hash = excluded.model_hash, attempts = excluded.attempts,
             received = excluded.received, started = excluded.started,
             finished = excluded.finished, seconds = excluded.seconds`,
        )
        .run({
          id: row.id,
          study_uid: row.studyUid,
          state: row.state,
          reason: row.reason,
          series_uid: row.seriesUid,
          any_p: row.any,
          flag: row.flag === null ? null : row.flag ? 1 : 0,
          sr_uid: row.srUid,
          sc_uid: row.scUid,
          model_hash: row.modelHash,
          attempts: row.attempts,
          received: row.received,
          started: row.started,
          finished: row.finished,
          seconds: row.seconds,
        });
      if (seq !== null) this.setLastSeq(seq);
    });
    tx();
  }

  close(): void {
    this.db.close();
  }
}
