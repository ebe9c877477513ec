import { expect } from 'chai';
import { dayRange, MAX_ANALYTICS_DAYS, parseDay, utcToday } from '../../src/queries/analyticsQueries.ts';

describe('analytics day ranges (pure)', () => {
  it('takes calendar days only, written YYYY-MM-DD', () => {
    expect(parseDay('2024-02-29')).to.equal('2024-02-29');
    for (const bad of ['2026-02-29', '2026-13-01', '2026-00-10', '2026-04-31', '2026-1-01', '20260101', 'yesterday', '', '2026-03-01T00:00:00Z', ' 2026-03-01']) {
      expect(parseDay(bad), bad).to.equal(null);
    }
  });

  it('defaults to the 30 days ending today, or ending at `to`', () => {
    expect(dayRange({}, '2026-03-10')).to.deep.equal({ from: '2026-02-09', to: '2026-03-10' });
    expect(dayRange({ to: '2026-01-15' }, '2026-03-10')).to.deep.equal({ from: '2025-12-17', to: '2026-01-15' });
    expect(dayRange({ from: '2026-03-01' }, '2026-03-10')).to.deep.equal({ from: '2026-03-01', to: '2026-03-10' });
  });

  it('refuses a backwards range and one longer than 366 days, both ends counted', () => {
    expect(dayRange({ from: '2026-03-02', to: '2026-03-01' }, '2026-03-10')).to.have.property('problem').that.matches(/after/);
    expect(dayRange({ from: '2026-03-11' }, '2026-03-10')).to.have.property('problem');
    expect(dayRange({ from: '2024-01-01', to: '2024-12-31' }, '2026-03-10')).to.deep.equal({ from: '2024-01-01', to: '2024-12-31' });
    expect(dayRange({ from: '2024-01-01', to: '2025-01-01' }, '2026-03-10')).to.have.property('problem').that.contains(`at most ${MAX_ANALYTICS_DAYS} days`);
  });

  it('names today by UTC', () => {
    expect(utcToday(Date.parse('2026-03-01T23:59:59.999Z'))).to.equal('2026-03-01');
    expect(utcToday(Date.parse('2026-03-02T00:30:00+01:00'))).to.equal('2026-03-01');
  });
});
