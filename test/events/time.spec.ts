import { expect } from 'chai';
import { isoMicros, parseAnyIso, parseIsoMicros } from '../../src/events/time.ts';
import { seeded } from '../support/seeded.ts';

describe('time stamps', () => {
  it('reads back every time isoMicros writes, to the microsecond', () => {
    const random = seeded(7);
    for (let i = 0; i < 20_000; i++) {
      // from 1970 to about 2286, leap days and month ends included by chance
      const micros = Math.floor(random() * 10_000_000_000) * 1_000_000 + Math.floor(random() * 1_000_000);
      expect(parseIsoMicros(isoMicros(micros)), isoMicros(micros)).to.equal(micros);
    }
  });

  it('agrees with the general parser on canonical-looking text, valid or not', () => {
    const random = seeded(11);
    const two = () => String(Math.floor(random() * 100)).padStart(2, '0');
    for (let i = 0; i < 20_000; i++) {
      const year = String(Math.floor(random() * 10_000)).padStart(4, '0');
      const text = `${year}-${two()}-${two()}T${two()}:${two()}:${two()}.${String(Math.floor(random() * 1e6)).padStart(6, '0')}Z`;
      expect(parseIsoMicros(text), text).to.equal(parseAnyIso(text));
    }
  });

  it('keeps the calendar: leap days, month ends, and nothing past them', () => {
    expect(parseIsoMicros('2024-02-29T12:00:00.000001Z')).to.equal(Date.UTC(2024, 1, 29, 12) * 1000 + 1);
    expect(parseIsoMicros('2023-02-29T12:00:00.000000Z')).to.equal(null);
    expect(parseIsoMicros('2100-02-29T00:00:00.000000Z')).to.equal(null);
    expect(parseIsoMicros('2026-04-31T00:00:00.000000Z')).to.equal(null);
    expect(parseIsoMicros('2026-12-31T23:59:59.999999Z')).to.equal(Date.UTC(2026, 11, 31, 23, 59, 59) * 1000 + 999_999);
    expect(parseIsoMicros('2026-13-01T00:00:00.000000Z')).to.equal(null);
    expect(parseIsoMicros('2026-11-25T23:60:00.000000Z')).to.equal(null);
  });

  it('still reads the other ISO forms, and refuses what is not a time', () => {
    expect(parseIsoMicros('2026-11-25T10:00:00Z')).to.equal(Date.UTC(2026, 10, 25, 10) * 1000);
    expect(parseIsoMicros('2026-11-25T10:00:00.5+01:00')).to.equal(Date.UTC(2026, 10, 25, 9) * 1000 + 500_000);
    expect(parseIsoMicros('0099-01-01T00:00:00.000000Z')).to.equal(parseAnyIso('0099-01-01T00:00:00.000000Z'));
    for (const text of ['', 'now', '2026-11-25 10:00:00.000000Z', '2026-11-25T10:00:00.00000xZ', '2026-1a-25T10:00:00.000000Z', '２０２６-11-25T10:00:00.000000Z']) {
      expect(parseIsoMicros(text), text).to.equal(null);
    }
  });
});
