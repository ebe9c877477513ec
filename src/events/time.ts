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
  return parseCanonical(text) ?? parseAnyIso(text);
}

/** The general form: any offset, up to six decimals. */
export function parseAnyIso(text: string): Micros | null {
  const match = ISO_MICROS.exec(text);
  if (!match) return null;
  const millis = Date.parse(`${match[1]}${match[3]}`);
  if (Number.isNaN(millis)) return null;
  // Date.parse rolls 30 February over into March; a date that is not in the calendar is no time
  const [year, month, day] = match[1]!.slice(0, 10).split('-').map(Number) as [number, number, number];
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return null;
  return millis * 1000 + Number((match[2] ?? '').padEnd(6, '0'));
}

/** `count` decimal digits of `text` from `from` as a number; -1 when one is not a digit. */
function digits(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * The form isoMicros writes (YYYY-MM-DDTHH:MM:SS.ffffffZ), which every time stamp in the log has,
 * read without a regular expression or Date.parse: folding a log parses millions of them. Null
 * for anything else, which the general parser then decides, so both always agree.
 */
function parseCanonical(text: string): Micros | null {
  if (text.length !== 27 || text[4] !== '-' || text[7] !== '-' || text[10] !== 'T' || text[13] !== ':' || text[16] !== ':' || text[19] !== '.' || text[26] !== 'Z') return null;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  const fraction = digits(text, 20, 6);
  // years before 1000 (Date.UTC reads 0-99 as 1900-1999) and hour 24 are left to the general parser
  const valid = year >= 1000 && month >= 1 && month <= 12 && day >= 1 && (day <= 28 || day <= daysIn(year, month)) && hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59 && fraction >= 0;
  if (!valid) return null;
  return Date.UTC(year, month - 1, day, hour, minute, second) * 1000 + fraction;
}
