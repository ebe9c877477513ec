import type { Knex } from 'knex';

// The Postgres event store.
//
// Global positions are (transaction id << 20) + the event's place in its append, so they sort
// in transaction-id order. Readers take only events below the horizon
// pg_snapshot_xmin(pg_current_snapshot()) << 20: every transaction below it has ended, and any
// that commits later has a larger id, so a reader never skips an event that commits late and
// never sees positions go backwards — while writers need no global lock and commit in parallel.
//
// Writers of one stream meet on the (stream, revision) key: of two appends planned from the same
// head, the second waits for the first to commit and then fails on the key, writing nothing.
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

    -- One round trip per batch of appends, planned by the caller from the heads it believed in.
    -- p_rows: [{id, stream, revision, type, data, metadata, hash}], metadata without its hash;
    -- a stale head fails on the (stream, revision) key, a stored id on the id key. p_refused:
    -- {heads: [{stream, revision}], ids: [...]}, the believed heads of streams the batch refused
    -- to write to (revision null: no stream) and the event ids of the appends it refused, which
    -- must not be stored; if they are wrong, nothing is written and the answer is NULL.
    -- Otherwise the answer is the batch's base position: its events are at base + 1, base + 2, ...
    CREATE FUNCTION es_append_batch(p_rows jsonb, p_refused jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
      base bigint := pg_current_xact_id()::text::bigint << 20;
    BEGIN
      IF EXISTS (
        SELECT 1 FROM jsonb_to_recordset(p_refused->'heads') AS c(stream text, revision bigint)
         WHERE c.revision IS DISTINCT FROM (SELECT max(e.revision) FROM es_events e WHERE e.stream = c.stream)
      ) OR EXISTS (
        SELECT 1 FROM es_events e WHERE e.id IN (SELECT jsonb_array_elements_text(p_refused->'ids')::uuid)
      ) THEN
        RETURN NULL;
      END IF;
      IF jsonb_array_length(p_rows) > 0 THEN
        INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
        SELECT base + r.ord, r.id, r.stream, r.revision, r.type, r.data, r.metadata || jsonb_build_object('hash', r.hash)
          FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (id uuid, stream text, revision bigint, type text, data jsonb, metadata jsonb, hash text))
               WITH ORDINALITY AS r(id, stream, revision, type, data, metadata, hash, ord);
        PERFORM pg_notify('es_events', '');
      END IF;
      RETURN base;
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION es_append_batch; DROP FUNCTION es_batch_state; DROP FUNCTION es_horizon;
    DROP TABLE es_events;
  `);
}
