import type { Knex } from 'knex';

// The Postgres event store. Writers serialize on the single es_head row, which hands out
// dense global positions in commit order: a reader that has seen position N has seen every
// position below it, so no subscriber can skip an event that commits late.
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
    CREATE TABLE es_head (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      position  bigint NOT NULL
    );
    INSERT INTO es_head (position) VALUES (0);

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
    -- believed in: p_check holds those heads (revision null: no stream) and the event ids of
    -- the appends it refused, which must not be stored; the unique keys back both up. A batch
    -- planned from a stale belief writes nothing and answers NULL (or fails on a unique key).
    CREATE FUNCTION es_append_batch(p_rows jsonb, p_check jsonb) RETURNS bigint LANGUAGE plpgsql AS $$
    DECLARE
      base bigint;
      n int := jsonb_array_length(p_rows);
    BEGIN
      -- the writers' lock: positions are handed out, and become visible, in commit order
      SELECT position INTO base FROM es_head FOR UPDATE;
      IF EXISTS (
        SELECT 1 FROM jsonb_to_recordset(p_check->'heads') AS c(stream text, revision bigint)
         WHERE c.revision IS DISTINCT FROM (SELECT max(e.revision) FROM es_events e WHERE e.stream = c.stream)
      ) OR EXISTS (
        SELECT 1 FROM es_events e WHERE e.id IN (SELECT jsonb_array_elements_text(p_check->'ids')::uuid)
      ) THEN
        RETURN NULL;
      END IF;
      IF n > 0 THEN
        INSERT INTO es_events (position, id, stream, revision, type, data, metadata)
        SELECT base + r.ord, r.id, r.stream, r.revision, r.type, r.data, r.metadata
          FROM ROWS FROM (jsonb_to_recordset(p_rows) AS (id uuid, stream text, revision bigint, type text, data jsonb, metadata jsonb))
               WITH ORDINALITY AS r(id, stream, revision, type, data, metadata, ord);
        UPDATE es_head SET position = base + n;
        PERFORM pg_notify('es_events', (base + n)::text);
      END IF;
      RETURN base;
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION es_append_batch; DROP FUNCTION es_batch_state; DROP TABLE es_head; DROP TABLE es_events;');
}
