import type { Knex } from 'knex';

// The Postgres event store.
//
// Global positions are (transaction id << 20) + the event's place in its append, so they sort
// in transaction-id order. Readers take only events below the horizon
// pg_snapshot_xmin(pg_current_snapshot()) << 20: every transaction below it has ended, and any
// that commits later has a larger id, so a reader never skips an event that commits late and
// never sees positions go backwards — while writers need no global lock and commit in parallel.
//
// Writers of one stream meet on the (stream, revision) key: an append planned from a stale head
// takes a revision that is already there. A batch that met another writer that way is retried
// carefully: it locks its streams, checks their heads, and writes those it knew.
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE es_events (
      position    bigint PRIMARY KEY,
      id          uuid NOT NULL UNIQUE,
      stream      text NOT NULL,
      revision    bigint NOT NULL,
      type        text NOT NULL,
      data        jsonb NOT NULL,
      metadata    jsonb NOT NULL,
      recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
      UNIQUE (stream, revision)
    );

    -- the highest position a reader may deliver now; see above. STABLE, so it reads the calling
    -- statement's own snapshot: a newer one could place rows that statement cannot see below it.
    CREATE FUNCTION es_horizon() RETURNS bigint LANGUAGE sql STABLE AS $$
      SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20) - 1
    $$;

    -- What a batch of appends must know: each stream's head (revision null: no stream) and
    -- which of its event ids are already stored.
    CREATE FUNCTION es_batch_state(p_streams text[], p_ids uuid[]) RETURNS jsonb LANGUAGE sql STABLE AS $$
      SELECT jsonb_build_object(
        'heads', (SELECT coalesce(jsonb_agg(jsonb_build_object('stream', s.stream, 'revision', h.revision::text, 'hash', h.hash)), '[]')
                    FROM unnest(p_streams) AS s(stream)
                    LEFT JOIN LATERAL (
                      SELECT e.revision, e.metadata->>'hash' AS hash FROM es_events e
                       WHERE e.stream = s.stream ORDER BY e.revision DESC LIMIT 1
                    ) h ON true),
        'stored', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', e.id, 'stream', e.stream, 'revision', e.revision::text, 'position', e.position::text)), '[]')
                     FROM es_events e WHERE e.id = ANY(p_ids)))
    $$;

    -- One round trip per batch of appends, planned by the caller from the stream heads it
    -- believed in. p_rows: [{id, stream, revision, type, data, metadata, hash, offset}], metadata
    -- without its hash; p_heads: [{stream, revision}] believed (revision null: no stream) for the
    -- streams to check: those the batch refused to write to, or, when p_careful, all of them;
    -- p_ids: event ids to look up. A stream whose head was stale, or one of whose rows has an id
    -- already stored, is not written: the answer names it ({stale: heads as they are, stored: ids
    -- already stored}) so the caller can plan it again. The rest is written at base + offset;
    -- a stale head the batch did not check fails on the (stream, revision) key instead.
    CREATE FUNCTION es_append_batch(p_rows jsonb, p_heads jsonb, p_ids uuid[], p_careful boolean) RETURNS jsonb LANGUAGE plpgsql AS $$
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
      -- the transaction id is taken only now, so waiting for the locks held no reader back
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
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION es_append_batch; DROP FUNCTION es_batch_state; DROP FUNCTION es_horizon;
    DROP TABLE es_events;
  `);
}
