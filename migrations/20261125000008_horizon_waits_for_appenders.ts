import type { Knex } from 'knex';

// The horizon waits only for transactions that append to the log.
//
// It was pg_snapshot_xmin: the oldest transaction still running, whatever it writes. So a
// projection's own batch transaction, or any other writer's, held every reader back until it
// committed, and a runner reading ahead waited for its own writes. Now an appending transaction
// marks itself with a shared advisory lock (1702065503, 1) before it takes its transaction id, and
// the horizon is the oldest transaction of the caller's snapshot that is not known to be a running
// non-appender: one that holds its transaction id in pg_locks without the mark can never append.
// A transaction that ended between the snapshot and the read of pg_locks is not in pg_locks, so it
// still counts: the snapshot cannot see its rows. pg_locks is read once (MATERIALIZED), so the two
// kinds of lock are seen at one moment.
//
// It reads pg_locks, so callers evaluate it once per statement: '(SELECT es_horizon())', not as a
// per-row filter.
const MARK = `      -- the appenders' mark, before the transaction id: a reader that sees an id running without it knows that
      -- transaction will never append (see es_horizon)
      IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'es_append_batch must be the first write of its transaction';
      END IF;
      PERFORM pg_advisory_xact_lock_shared(1702065503, 1);
`;

/** es_append_batch as the first migration made it, with the appenders' mark or (down) without. */
const appendBatch = (marked: boolean) => `
    CREATE OR REPLACE FUNCTION es_append_batch(p_rows jsonb, p_heads jsonb, p_ids uuid[], p_careful boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
    DECLARE
      base bigint;
      stale text[];
      stored jsonb;
      skip text[];
    BEGIN
      IF p_careful THEN
        -- so no careful writer changes a head between its check and the insert; in one order, so two cannot deadlock
        PERFORM pg_advisory_xact_lock(k)
           FROM (SELECT DISTINCT hashtextextended(h->>'stream', 0) AS k FROM jsonb_array_elements(p_heads) h ORDER BY 1) AS locks;
      END IF;
      SELECT array_agg(c.stream) INTO stale
        FROM jsonb_to_recordset(p_heads) AS c(stream text, revision bigint)
       WHERE c.revision IS DISTINCT FROM (SELECT max(e.revision) FROM es_events e WHERE e.stream = c.stream);
      SELECT jsonb_agg(jsonb_build_object('id', e.id, 'stream', e.stream, 'revision', e.revision::text, 'position', e.position::text)) INTO stored
        FROM es_events e WHERE e.id = ANY(p_ids);
      skip := coalesce(stale, '{}') || ARRAY(
        SELECT r->>'stream' FROM jsonb_array_elements(p_rows) r WHERE (r->>'id')::uuid IN (SELECT (s->>'id')::uuid FROM jsonb_array_elements(stored) s));
${marked ? MARK : ''}      -- the transaction id is taken only now, so waiting for the locks held no reader back
      base := pg_current_xact_id()::text::bigint << 20;
      INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
      SELECT base + r."offset", r.id, r.stream, r.revision, r.type, r.data, r.metadata || jsonb_build_object('hash', r.hash)
        FROM jsonb_to_recordset(p_rows) AS r(id uuid, stream text, revision bigint, type text, data jsonb, metadata jsonb, hash text, "offset" bigint)
       WHERE r.stream <> ALL (skip);
      IF FOUND THEN
        PERFORM pg_notify('es_events', '');
      END IF;
      RETURN jsonb_build_object(
        'base', base::text,
        'stale', (SELECT coalesce(jsonb_agg(jsonb_build_object('stream', t.stream, 'revision', h.revision::text, 'hash', h.hash)), '[]')
                    FROM unnest(stale) AS t(stream)
                    LEFT JOIN LATERAL (SELECT e.revision, e.metadata->>'hash' AS hash FROM es_events e
                                        WHERE e.stream = t.stream ORDER BY e.revision DESC LIMIT 1) h ON true),
        'stored', coalesce(stored, '[]'));
    END $$;`;

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION es_horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
      WITH locks AS MATERIALIZED (
        SELECT locktype, mode, virtualtransaction, transactionid::text::bigint AS xid, classid, objid, objsubid, database
          FROM pg_locks WHERE granted AND locktype IN ('transactionid', 'advisory')
      ), others AS (
        SELECT t.xid FROM locks t
         WHERE t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock'
           AND NOT EXISTS (SELECT 1 FROM locks a
                            WHERE a.locktype = 'advisory' AND a.virtualtransaction = t.virtualtransaction
                              AND a.classid = 1702065503 AND a.objid = 1 AND a.objsubid = 2
                              AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
      )
      SELECT (coalesce(
        (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
          WHERE x::text::bigint % 4294967296 NOT IN (SELECT xid FROM others)),
        pg_snapshot_xmax(pg_current_snapshot())::text::bigint) << 20) - 1
    $$;

${appendBatch(true)}
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION es_horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
      SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20) - 1
    $$;

${appendBatch(false)}
  `);
}
