import pg from 'pg';

/**
 * A connection of its own in a read-only transaction on `snapshot` (another transaction's
 * pg_export_snapshot(), which must still be open): it sees exactly the rows that one sees.
 */
export async function joinSnapshot(databaseUrl: string, snapshot: string, options: Omit<pg.ClientConfig, 'connectionString'>): Promise<pg.Client> {
  const client = new pg.Client({ ...options, connectionString: databaseUrl });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT ${pg.escapeLiteral(snapshot)}`);
    return client;
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
}
