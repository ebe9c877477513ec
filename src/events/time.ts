/** Microseconds since the epoch: the unit of every time stamp in the log (ISO strings carry six decimals). */
export type Micros = number;

/** Where commands get their time: the wall clock, or a test's own. */
export type Clock = () => Micros;

export function nowMicros(): Micros {
  // performance.now() adds sub-millisecond precision to the wall clock's milliseconds
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

export function isoMicros(micros: Micros): string {
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, 23)}${String(micros % 1000).padStart(3, '0')}Z`;
}

const ISO_MICROS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(Z|[+-]\d\d:\d\d)$/;

/** Parses an ISO 8601 time with up to six decimals; null when it is not one. */
export function parseIsoMicros(text: string): Micros | null {
  const match = ISO_MICROS.exec(text);
  if (!match) return null;
  const millis = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(millis)) return null;
  // Date.parse rolls 30 February over into March; a date that is not in the calendar is no time
  const [year, month, day] = match[1]!.slice(0, 10).split('-').map(Number) as [number, number, number];
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return null;
  return millis * 1000 + Number((match[2] ?? '').padEnd(6, '0'));
}
