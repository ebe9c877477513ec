import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { exportEvents, exportLine, eventJson, type ExportWindow } from '../../src/audit/exportEvents.ts';
import { postgresEventLines, type PostgresEventLinesOptions } from '../../src/audit/postgresEventLines.ts';
import { ChainTails } from '../../src/audit/verifyLog.ts';
import { isoMicros, parseIsoMicros } from '../../src/events/time.ts';
import type { RecordedEvent } from '../../src/eventstore/EventStore.ts';
import { newEvent } from '../support/events.ts';
import { adminQuery, eventStoreFixture, requireService } from '../support/services.ts';

const ALL: ExportWindow = { from: 0, to: Number.MAX_SAFE_INTEGER };

/** an exported line read back as the event it says it is */
function recorded(line: string): RecordedEvent {
  const e = JSON.parse(line);
  return { ...e, revision: BigInt(e.revision), position: BigInt(e.position), recordedAt: e.recorded_at };
}

/** what is awkward to carry through COPY and JSON: escapes, quotes, control characters, non-ASCII, odd numbers */
const AWKWARD = {
  content: 'back\\slash "quoted" \\"both\\" \\u0001 as text, \u0001\u0002\u001f raw, new\nline\r\n\ttab, \b\f',
  unicode: 'é ü ß — 😀 \u2028\u2029 \u00a0 \u007f 中文',
  'key with "quote" and \\ and\nnewline': [1, -2.5, 0.30000000000000004, 1e21, 123456789012, true, false, null, {}, []],
  nested: { deeper: { csv: 'a,b;"c"\u0001\u0002', empty: '' } },
};

/** a time column as exported micros, for a window's ends */
const micros = (column: string) => `(extract(epoch FROM ${column}) * 1000000)::bigint::text`;

/** an output that takes nothing until released: its first write waits; what it took, as text */
function heldOutput(): { out: Writable; release: () => void; written: () => string } {
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const chunks: Buffer[] = [];
  const out = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      if (chunks.length === 1) void held.then(() => done());
      else done();
    },
  });
  return { out, release, written: () => Buffer.concat(chunks).toString('utf8') };
}

describe('audit export from the Postgres event store (COPY)', function () {
  this.timeout(60_000);
  const fixture = eventStoreFixture();
  const files: string[] = [];
  before(function () {
    requireService(this, 'postgres');
  });
  after(async () => Promise.all(files.map((file) => rm(file, { force: true }))));

  const sql = (text: string) => adminQuery(fixture.db.url, text);
  /** the store's horizon may stand below a position while some transaction in the cluster runs: wait for it */
  async function settled(position: bigint): Promise<void> {
    for (let tries = 0; (await fixture.store.headPosition()) < position; tries++) {
      if (tries > 200) throw new Error(`the horizon did not reach ${position}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
  /**
   * Exports the window to a file: the count exportEvents answers and the file's lines. The horizon
   * may stand lower for a moment than it did (a transaction elsewhere in the cluster that ended as
   * the export began counts as running): with `expected`, exports again until that many lines came.
   */
  async function exportToFile(window: ExportWindow, expected?: number, options?: PostgresEventLinesOptions) {
    for (let tries = 1; ; tries++) {
      const run = await exportOnce(window, options);
      if (expected === undefined || run.count >= expected || tries === 20) return run;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  async function exportOnce(window: ExportWindow, options?: PostgresEventLinesOptions) {
    const file = path.join(os.tmpdir(), `export-${process.pid}-${randomUUID()}.ndjson`);
    files.push(file);
    const reader = postgresEventLines(fixture.db.url, options);
    try {
      const count = await exportEvents(reader.lines(window), createWriteStream(file));
      const text = await readFile(file, 'utf8');
      const lines = text.split('\n');
      expect(lines.pop(), 'the file ends with a newline').to.equal('');
      expect(lines).to.have.length(count);
      return { count, text, lines };
    } finally {
      await reader.close();
    }
  }
  const readAll = async () => fixture.store.readAll({ after: 0n, maxCount: 100_000 });
  /** the export's connections to the suite's database */
  const exportConnections = async (): Promise<number> =>
    (await sql(`SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'chat-audit-export'`)).rows[0].count;
  /** the backends of readers that are closed go away: none left after a little while */
  async function noExportConnections(): Promise<void> {
    for (let tries = 0; ; tries++) {
      const count = await exportConnections();
      if (count === 0) return;
      if (tries > 40) expect(count, 'export connections left open').to.equal(0);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('writes awkward content so that it parses to the event the store reads, verifies, and re-serializes to exportLine byte for byte', async () => {
    const stream = `chat-${randomUUID()}`;
    const { position } = await fixture.store.append(stream, [newEvent('Awkward', AWKWARD), newEvent('Awkward', { ...AWKWARD, content: '' }), newEvent('Plain', { n: 1 })], 'no_stream');
    await settled(position);
    const events = await readAll();
    const { count, text, lines } = await exportToFile(ALL, events.length);
    expect(count).to.equal(events.length).and.to.be.at.least(3);
    // no raw control character but the lines' ends: JSON escapes them all, COPY added none
    expect(/[\u0000-\u0009\u000b-\u001f]/.test(text)).to.equal(false);
    const tails = new ChainTails();
    lines.forEach((line, i) => {
      const event = recorded(line);
      expect(event).to.deep.equal({ ...eventJson(events[i]!), revision: events[i]!.revision, position: events[i]!.position, recordedAt: events[i]!.recordedAt });
      // the same JSON as exportLine's, as jsonb writes it: only the spaces after ':' and ',' differ
      expect(`${JSON.stringify(JSON.parse(line))}\n`).to.equal(exportLine(events[i]!));
      tails.check(event);
    });
    expect(lines.filter((line) => line.includes('"Awkward"')).map((line) => JSON.parse(line).data)).to.deep.equal([AWKWARD, { ...AWKWARD, content: '' }]);
    expect(tails.breaks).to.deep.equal([]);
    // the fixed fields as exportLine writes them, to the byte
    const first = events.find((e) => e.type === 'Awkward')!;
    expect(lines[events.indexOf(first)]).to.match(
      new RegExp(`^\\{"position":"${first.position}","stream":"${stream}","revision":"0","id":"${first.id}","type":"Awkward","recorded_at":"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z","data":\\{`),
    );
  });

  it('keeps the window, both ends included, to the microsecond; and one chat, by revision', async () => {
    const chat = randomUUID();
    const other = `chat-${randomUUID()}`;
    await fixture.store.append(`chat-${chat}`, [newEvent('InChat', { i: 0 })], 'no_stream');
    await fixture.store.append(other, [newEvent('Elsewhere', { i: 0 })], 'no_stream');
    const { position } = await fixture.store.append(`chat-${chat}`, [newEvent('InChat', { i: 1 }), newEvent('InChat', { i: 2 }), newEvent('InChat', { i: 3 })], 0n);
    // recorded a second apart, from 2001-01-01T00:00:00.000001Z, in the order of the log
    await sql(`UPDATE es_events e SET recorded_at = '2001-01-01T00:00:00.000001Z'::timestamptz + (n.k - 1) * interval '1 second'
                 FROM (SELECT position, row_number() OVER (ORDER BY position) AS k FROM es_events) n WHERE n.position = e.position`);
    await settled(position);
    const events = await readAll();
    const at = (i: number) => parseIsoMicros(events[i]!.recordedAt)!;
    const committed = async ({ from, to, chat }: ExportWindow) =>
      Number((await sql(`SELECT count(*) FROM es_events WHERE recorded_at BETWEEN '${isoMicros(from)}' AND '${isoMicros(to)}'${chat ? ` AND stream = 'chat-${chat}'` : ''}`)).rows[0].count);
    const exported = async (window: ExportWindow) => (await exportToFile(window, await committed(window))).lines.map((line) => JSON.parse(line));

    const inner = await exported({ from: at(1), to: at(3) });
    expect(inner.map((e) => e.position)).to.deep.equal(events.slice(1, 4).map((e) => String(e.position)));
    expect(await exported({ from: at(1) + 1, to: at(3) - 1 })).to.deep.equal([inner[1]]);
    expect(await exported({ from: at(events.length - 1) + 1, to: ALL.to })).to.deep.equal([]);

    const chatEvents = events.filter((e) => e.stream === `chat-${chat}`);
    const ofChat = await exported({ from: 0, to: parseIsoMicros(chatEvents[2]!.recordedAt)!, chat });
    expect(ofChat.map((e) => [e.stream, e.revision])).to.deep.equal([0, 1, 2].map((r) => [`chat-${chat}`, String(r)]));
    expect(ofChat).to.deep.equal(chatEvents.slice(0, 3).map((e) => JSON.parse(exportLine(e))));
    expect(await exported({ from: 0, to: ALL.to, chat: randomUUID() })).to.deep.equal([]);
  });

  it('stops below a transaction still running: its event, and those committed after it, wait until it ends', async () => {
    const open = new pg.Client({ connectionString: fixture.db.url });
    await open.connect();
    try {
      // as es_append_batch writes: marked as an appender, then at the position its transaction id gives
      await open.query('BEGIN');
      await open.query('SELECT pg_advisory_xact_lock_shared(1702065503, 1)');
      await open.query(`INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
                        VALUES (pg_current_xact_id()::text::bigint << 20, $1, $2, 0, 'Open', '{}', '{}')`, [randomUUID(), `chat-${randomUUID()}`]);
      const late = await fixture.store.append(`chat-${randomUUID()}`, [newEvent('CommittedLater')], 'no_stream');
      const before = await exportToFile(ALL);
      const types = before.lines.map((line) => JSON.parse(line).type);
      expect(types).not.to.include('Open');
      expect(types).not.to.include('CommittedLater');
      expect(before.lines.map((line) => BigInt(JSON.parse(line).position) < late.position).every(Boolean)).to.equal(true);
      await open.query('COMMIT');
      await settled(late.position);
      const after = (await exportToFile(ALL, before.count + 2)).lines.map((line) => JSON.parse(line).type);
      expect(after.slice(-2)).to.deep.equal(['Open', 'CommittedLater']);
      expect(after).to.have.length(before.count + 2);
    } finally {
      await open.end();
    }
  });

  describe('on a log of 20,000 events', () => {
    before(async () => {
      // below every position a transaction id gives (those start at 2^20), so below the horizon at once
      await sql(`INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
                 SELECT g + 1, gen_random_uuid(), 'chat-' || md5((g % 100)::text)::uuid, g / 100, 'Filler',
                        jsonb_build_object('content', repeat('x', 500), 'n', g), '{}'
                   FROM generate_series(0, 19999) AS g`);
    });

    it('reads no more than the output takes: a stalled output holds the export back', async () => {
      let pulled = 0;
      const reader = postgresEventLines(fixture.db.url);
      const { out, release } = heldOutput();
      async function* counted() {
        for await (const chunk of reader.lines(ALL)) {
          pulled += chunk.text.length;
          yield chunk;
        }
      }
      try {
        const exporting = exportEvents(counted(), out);
        await new Promise((resolve) => setTimeout(resolve, 500));
        // the log is over 10 MB; one write's worth (1 MB) and what the socket holds at most is in hand
        expect(pulled).to.be.above(0).and.below(3 * 1024 * 1024);
        release();
        expect(await exporting).to.be.at.least(20_000);
        expect(pulled).to.be.above(10 * 1024 * 1024);
      } finally {
        release();
        await reader.close();
      }
    });

    it('an output that fails halfway (a full disk) fails the export, and the reader still closes, leaving no connection', async () => {
      const reader = postgresEventLines(fixture.db.url, { lanes: 3 });
      try {
        let failure: unknown;
        await exportEvents(reader.lines(ALL), createWriteStream('/dev/full')).catch((error: unknown) => (failure = error));
        expect((failure as NodeJS.ErrnoException | undefined)?.code).to.equal('ENOSPC');
      } finally {
        await reader.close();
      }
      await noExportConnections();
      // and the log exports in full afterwards, every line counted
      const [{ count }] = (await sql('SELECT count(*)::int AS count FROM es_events')).rows;
      expect((await exportToFile(ALL, count)).count).to.equal(count);
    });

    it('a connection lost midway fails the export, not the process, and the reader still closes', async () => {
      const reader = postgresEventLines(fixture.db.url, { lanes: 3 });
      const { out, release } = heldOutput();
      try {
        const exporting = exportEvents(reader.lines(ALL), out).then(
          () => undefined,
          (error: unknown) => error,
        );
        // held at its first write, with its three connections open: all of them go
        for (let tries = 0; (await exportConnections()) < 3; tries++) {
          if (tries > 100) throw new Error('the export did not open its connections');
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'chat-audit-export'`);
        release();
        expect(await exporting).to.be.an('error');
      } finally {
        release();
        await reader.close();
      }
      await noExportConnections();
    });

    it('on several connections, writes the bytes a single COPY writes, in the log\'s order', async () => {
      const [{ count, from, to }] = (
        await sql(`SELECT count(*)::int AS count, ${micros('min(recorded_at)')} AS from, ${micros('max(recorded_at)')} AS to FROM es_events WHERE position <= 20000`)
      ).rows;
      // the whole log, and the filler alone: ranges of 5,000 events, so connections take more than one
      const [{ all }] = (await sql('SELECT count(*)::int AS all FROM es_events')).rows;
      for (const [window, expected] of [[ALL, all], [{ from: Number(from), to: Number(to) }, count]] as const) {
        const single = await exportToFile(window, expected, { lanes: 1 });
        expect(single.count).to.equal(expected);
        for (const lanes of [2, 3, 7]) {
          const split = await exportToFile(window, expected, { lanes });
          expect(split.count).to.equal(expected);
          expect(split.text === single.text, `${lanes} connections: ${split.text.length} characters for ${single.text.length}`).to.equal(true);
        }
      }
    });

    it('cuts every connection\'s ranges at one horizon in one snapshot: an open append, what commits after it and what is appended while it exports stay out', async () => {
      for (let tries = 1; ; tries++) {
        const open = new pg.Client({ connectionString: fixture.db.url });
        await open.connect();
        const { out, release, written } = heldOutput();
        const reader = postgresEventLines(fixture.db.url, { lanes: 3 });
        try {
          // as es_append_batch writes: marked as an appender, then at the position its transaction id gives
          await open.query('BEGIN');
          await open.query('SELECT pg_advisory_xact_lock_shared(1702065503, 1)');
          const { rows } = await open.query(`INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
                                             VALUES (pg_current_xact_id()::text::bigint << 20, $1, $2, 0, 'OpenWhileSplit', '{}', '{}') RETURNING position`, [randomUUID(), `chat-${randomUUID()}`]);
          const openAt = BigInt(rows[0].position);
          await fixture.store.append(`chat-${randomUUID()}`, [newEvent('CommittedAfterOpen')], 'no_stream');
          const [{ below }] = (await sql(`SELECT count(*)::int AS below FROM es_events WHERE position < ${openAt}`)).rows;
          const single = await exportToFile(ALL, below, { lanes: 1 });

          // held at its first write while the open append commits and more is appended, past the horizon it began with
          const exporting = exportEvents(reader.lines(ALL), out);
          await new Promise((resolve) => setTimeout(resolve, 200));
          await open.query('COMMIT');
          const during = await fixture.store.append(`chat-${randomUUID()}`, [newEvent('AppendedDuring')], 'no_stream');
          await settled(during.position);
          release();
          const count = await exporting;
          // a transaction elsewhere in the cluster may have held the horizon lower for a moment: try again
          if ((count < below || single.count < below) && tries < 5) continue;
          expect(single.count).to.equal(below);
          expect(count).to.equal(below);
          expect(written() === single.text, `${written().length} characters for ${single.text.length}`).to.equal(true);
          expect(written()).not.to.match(/"type":"(OpenWhileSplit|CommittedAfterOpen|AppendedDuring)"/);
          expect(written().split('\n').slice(0, -1).every((line) => BigInt(JSON.parse(line).position) < openAt)).to.equal(true);
          return;
        } finally {
          release();
          await reader.close();
          await open.end();
        }
      }
    });
  });
});
