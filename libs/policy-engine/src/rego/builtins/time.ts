/**
 * `time.*` with Go's `time` semantics: nanoseconds since the epoch as int64 (bigint here, so no
 * precision is lost on the way back into the Wasm heap), RFC 3339 as Go's `time.Parse` reads it,
 * durations as `time.ParseDuration`, calendar arithmetic as `Time.AddDate` (normalising, so
 * Jan 31 + 1 month is Mar 3).
 */
import { fail, int, str } from './errors.ts';
import { NAMED_LAYOUTS, parseGoLayout } from './golayout.ts';

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

const rfc3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$/;

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Go's `time.Parse(time.RFC3339, s)` to nanoseconds; throws on anything Go refuses. */
export function parseRfc3339Ns(s: string): bigint {
  const m = rfc3339.exec(s);
  if (!m) fail(`parsing time ${JSON.stringify(s)} as "2006-01-02T15:04:05Z07:00": cannot parse`);
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12) fail(`parsing time ${JSON.stringify(s)}: month out of range`);
  if (d < 1 || d > daysIn(y, mo)) fail(`parsing time ${JSON.stringify(s)}: day out of range`);
  if (h > 23 || mi > 59 || se > 59) fail(`parsing time ${JSON.stringify(s)}: value out of range`);
  const frac = m[7] ?? '';
  const nanos = BigInt((frac + '000000000').slice(0, 9));
  let offset = 0;
  const zone = m[8] ?? 'Z';
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(4, 6));
    if (oh > 23 || om > 59) fail(`parsing time ${JSON.stringify(s)}: time zone offset out of range`);
    offset = (zone.startsWith('-') ? -1 : 1) * (oh * 60 + om);
  }
  const date = new Date(0);
  date.setUTCFullYear(y, mo - 1, d);
  date.setUTCHours(h, mi, se, 0);
  const ns = (BigInt(date.getTime()) - BigInt(offset) * 60_000n) * NS_PER_MS + nanos;
  if (ns < INT64_MIN || ns > INT64_MAX) fail('time outside of valid range');
  return ns;
}

const unitNs: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5
  μs: 1_000n, // U+03BC
  ms: 1_000_000n,
  s: NS_PER_S,
  m: 60n * NS_PER_S,
  h: 3600n * NS_PER_S,
  // OPA 1.x extends Go's units with days, weeks and years of fixed length (24 h, 7 d, 365 d).
  d: 86_400n * NS_PER_S,
  w: 7n * 86_400n * NS_PER_S,
  y: 365n * 86_400n * NS_PER_S,
};

/** Go's `time.ParseDuration`, with OPA's `d`, `w` and `y`. */
export function parseDurationNs(orig: string): bigint {
  const bad = (): never => fail(`time: invalid duration ${JSON.stringify(orig)}`);
  let s = orig;
  let neg = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    neg = s.startsWith('-');
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') bad();
  let total = 0n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s);
    const whole = m?.[1] ?? '';
    const frac = m?.[2];
    if (whole === '' && (frac === undefined || frac === '')) bad();
    s = s.slice(m?.[0].length ?? 0);
    const u = /^[^\d.]*/.exec(s)?.[0] ?? '';
    if (u === '') fail(`time: missing unit in duration ${JSON.stringify(orig)}`);
    const unit = unitNs[u];
    if (unit === undefined)
      fail(`time: unknown unit ${JSON.stringify(u)} in duration ${JSON.stringify(orig)}`);
    s = s.slice(u.length);
    let v = BigInt(whole || '0') * unit;
    if (frac) {
      // Go scales the fraction into the unit and truncates.
      v += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    }
    total += v;
    if (total > 2n ** 63n - (neg ? 0n : 1n)) bad();
  }
  return neg ? -total : total;
}

type Zoned = { ns: bigint; zone: string };

function zoned(value: unknown, pos: number, name: string): Zoned {
  if (Array.isArray(value)) {
    if (value.length !== 2) fail(`${name}: array should have 2 elements`);
    const zone = str(value[1], pos);
    return { ns: int(value[0], pos), zone };
  }
  return { ns: int(value, pos), zone: 'UTC' };
}

function timeZone(zone: string, name: string): string {
  if (zone === '' || zone === 'UTC') return 'UTC';
  if (zone === 'Local') return Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
  } catch {
    fail(`${name}: unknown time zone ${zone}`);
  }
  return zone;
}

type Fields = {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: string;
};

const floorDiv = (a: bigint, b: bigint) => (a >= 0n ? a / b : -((-a + b - 1n) / b));

function fields(t: Zoned, name: string): Fields {
  const zone = timeZone(t.zone, name);
  const ms = Number(floorDiv(t.ns, NS_PER_MS));
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    weekday: 'long',
    era: 'short',
  }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)?.value ?? '';
  let year = Number(get('year'));
  if (get('era') === 'BC') year = 1 - year;
  return {
    year,
    month: Number(get('month')),
    day: Number(get('day')),
    hour: Number(get('hour')),
    minute: Number(get('minute')),
    second: Number(get('second')),
    weekday: get('weekday'),
  };
}

function checkRange(ns: bigint): bigint {
  if (ns < INT64_MIN || ns > INT64_MAX) fail('time outside of valid range');
  return ns;
}

function addDate(ns: bigint, years: bigint, months: bigint, days: bigint): bigint {
  const ms = floorDiv(ns, NS_PER_MS);
  const rest = ns - ms * NS_PER_MS;
  const d = new Date(Number(ms));
  const shifted = new Date(0);
  shifted.setUTCFullYear(
    d.getUTCFullYear() + Number(years),
    d.getUTCMonth() + Number(months),
    d.getUTCDate() + Number(days),
  );
  shifted.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  return checkRange(BigInt(shifted.getTime()) * NS_PER_MS + rest);
}

function diff(a: Zoned, b: Zoned): number[] {
  // Go compares instants, then reads both in the first one's zone.
  const zone = a.zone;
  let [t1, t2] = [a, { ns: b.ns, zone }];
  if (t1.ns > t2.ns) [t1, t2] = [t2, t1];
  const f1 = fields(t1, 'time.diff');
  const f2 = fields(t2, 'time.diff');
  let year = f2.year - f1.year;
  let month = f2.month - f1.month;
  let day = f2.day - f1.day;
  let hour = f2.hour - f1.hour;
  let minute = f2.minute - f1.minute;
  let second = f2.second - f1.second;
  if (second < 0) {
    second += 60;
    minute--;
  }
  if (minute < 0) {
    minute += 60;
    hour--;
  }
  if (hour < 0) {
    hour += 24;
    day--;
  }
  if (day < 0) {
    day += daysIn(f1.year, f1.month);
    month--;
  }
  if (month < 0) {
    month += 12;
    year--;
  }
  return [year, month, day, hour, minute, second];
}

export function timeBuiltins(now: () => bigint): Record<string, (...args: unknown[]) => unknown> {
  return {
    'time.now_ns': () => now(),
    'time.parse_rfc3339_ns': (s) => parseRfc3339Ns(str(s, 1)),
    'time.parse_duration_ns': (s) => parseDurationNs(str(s, 1)),
    'time.parse_ns': (layout, value) => {
      const l = str(layout, 1);
      return parseGoLayout(NAMED_LAYOUTS[l] ?? l, str(value, 2));
    },
    'time.clock': (x) => {
      const f = fields(zoned(x, 1, 'time.clock'), 'time.clock');
      return [f.hour, f.minute, f.second];
    },
    'time.date': (x) => {
      const f = fields(zoned(x, 1, 'time.date'), 'time.date');
      return [f.year, f.month, f.day];
    },
    'time.weekday': (x) => fields(zoned(x, 1, 'time.weekday'), 'time.weekday').weekday,
    'time.add_date': (ns, y, m, d) => addDate(int(ns, 1), int(y, 2), int(m, 3), int(d, 4)),
    'time.diff': (a, b) => diff(zoned(a, 1, 'time.diff'), zoned(b, 2, 'time.diff')),
  };
}
