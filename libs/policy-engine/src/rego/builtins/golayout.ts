/**
 * Go's `time.Parse(layout, value)` for `time.parse_ns`: the reference-time layout elements
 * (`2006`, `01`, `Jan`, `_2`, `15`, `PM`, `-07:00`, `Z07:00`, `.000`, ...), the fractional
 * second Go accepts after the seconds even when the layout has none, and zone abbreviations
 * read with a zero offset (what Go does with one it does not know, and the offset of `UTC`).
 */
import { fail } from './errors.ts';

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Layout elements, longest first where one is a prefix of another (Go's `nextStdChunk` order). */
const ELEMENTS = [
  'January',
  'Jan',
  'Monday',
  'Mon',
  'MST',
  '2006',
  '002',
  '01',
  '02',
  '03',
  '04',
  '05',
  '06',
  '_2',
  '15',
  'Z07:00:00',
  'Z070000',
  'Z07:00',
  'Z0700',
  'Z07',
  '-07:00:00',
  '-070000',
  '-07:00',
  '-0700',
  '-07',
  'PM',
  'pm',
  '1',
  '2',
  '3',
  '4',
  '5',
];

export const NAMED_LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
};

function err(layout: string, value: string): never {
  fail(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: cannot parse`);
}

export function parseGoLayout(layout: string, value: string): bigint {
  let l = 0;
  let v = 0;
  let year = 0; // Go: a layout without a year gives year 0 (outside int64 nanoseconds)
  let month = 1;
  let day = 1;
  let hour = 0;
  let minute = 0;
  let second = 0;
  let nanos = 0n;
  let pm: boolean | undefined;
  let offset = 0;
  let yday = -1;
  const digits = (min: number, max: number): number => {
    const m = new RegExp(`^\\d{${min},${max}}`).exec(value.slice(v));
    if (!m) err(layout, value);
    v += m[0].length;
    return Number(m[0]);
  };
  const word = (list: string[], abbrev: boolean): number => {
    for (let i = 0; i < list.length; i++) {
      const name = abbrev ? (list[i] ?? '').slice(0, 3) : (list[i] ?? '');
      if (value.slice(v, v + name.length).toLowerCase() === name.toLowerCase()) {
        v += name.length;
        return i;
      }
    }
    return err(layout, value);
  };
  // After the seconds, Go reads a fraction the layout does not spell out.
  const fraction = () => {
    if (/^[.,](0+|9+)(?!\d)/.test(layout.slice(l))) return;
    const m = /^[.,](\d+)/.exec(value.slice(v));
    if (m) {
      nanos = BigInt(((m[1] ?? '') + '000000000').slice(0, 9));
      v += m[0].length;
    }
  };
  while (l < layout.length) {
    // A fractional-second element: `.000` (exact digits) or `.999` (optional, trailing zeros dropped).
    const frac = /^[.,](0+|9+)(?!\d)/.exec(layout.slice(l));
    if (frac && /\d$/.test(layout.slice(0, l))) {
      l += frac[0].length;
      const exact = frac[1]?.startsWith('0') ?? false;
      const m = /^[.,](\d+)/.exec(value.slice(v));
      if (exact) {
        if (!m || (m[1] ?? '').length !== (frac[1] ?? '').length) err(layout, value);
      }
      if (m) {
        nanos = BigInt(((m[1] ?? '') + '000000000').slice(0, 9));
        v += m[0].length;
      }
      continue;
    }
    const element = ELEMENTS.find((e) => layout.startsWith(e, l));
    if (!element) {
      if (value[v] !== layout[l]) err(layout, value);
      l++;
      v++;
      continue;
    }
    l += element.length;
    switch (element) {
      case '2006':
        year = digits(4, 4);
        break;
      case '06': {
        const y = digits(2, 2);
        year = y >= 69 ? 1900 + y : 2000 + y;
        break;
      }
      case '01':
        month = digits(2, 2);
        break;
      case '1':
        month = digits(1, 2);
        break;
      case 'January':
        month = word(MONTHS, false) + 1;
        break;
      case 'Jan':
        month = word(MONTHS, true) + 1;
        break;
      case 'Monday':
        word(DAYS, false);
        break;
      case 'Mon':
        word(DAYS, true);
        break;
      case '02':
        day = digits(2, 2);
        break;
      case '_2':
        if (value[v] === ' ') v++;
        day = digits(1, 2);
        break;
      case '2':
        day = digits(1, 2);
        break;
      case '002':
        yday = digits(3, 3);
        break;
      case '15':
        hour = digits(1, 2);
        break;
      case '03':
        hour = digits(2, 2);
        break;
      case '3':
        hour = digits(1, 2);
        break;
      case '04':
        minute = digits(2, 2);
        break;
      case '4':
        minute = digits(1, 2);
        break;
      case '05':
        second = digits(2, 2);
        fraction();
        break;
      case '5':
        second = digits(1, 2);
        fraction();
        break;
      case 'PM':
      case 'pm': {
        const p = value.slice(v, v + 2).toUpperCase();
        if (p !== 'AM' && p !== 'PM') err(layout, value);
        pm = p === 'PM';
        v += 2;
        break;
      }
      case 'MST': {
        const m = /^(UTC|[A-Z]{3,5}|[+-]\d{2,4})/.exec(value.slice(v));
        if (!m) err(layout, value);
        v += m[0].length;
        break;
      }
      default: {
        // Numeric zones; the Z forms also accept a literal Z.
        if (element.startsWith('Z') && value[v] === 'Z') {
          v++;
          break;
        }
        const shape = element.replace(/^Z/, '-').replace(/\d/g, 'd');
        const re = new RegExp(`^[+-]${shape.slice(1).replace(/d/g, '\\d')}`);
        const m = re.exec(value.slice(v));
        if (!m) err(layout, value);
        const d = m[0].replace(/:/g, '');
        const sign = d.startsWith('-') ? -1 : 1;
        offset =
          sign *
          (Number(d.slice(1, 3)) * 3600 + Number(d.slice(3, 5) || 0) * 60 + Number(d.slice(5, 7) || 0));
        v += m[0].length;
      }
    }
  }
  if (v !== value.length)
    fail(`parsing time ${JSON.stringify(value)}: extra text: ${JSON.stringify(value.slice(v))}`);
  if (pm !== undefined) {
    if (hour < 1 || hour > 12) err(layout, value);
    if (pm && hour < 12) hour += 12;
    if (!pm && hour === 12) hour = 0;
  }
  if (yday >= 0) {
    const d = new Date(Date.UTC(2000, 0, 1));
    d.setUTCFullYear(year, 0, yday);
    if (d.getUTCFullYear() !== year || yday < 1) err(layout, value);
    month = d.getUTCMonth() + 1;
    day = d.getUTCDate();
  }
  if (month < 1 || month > 12) fail(`parsing time ${JSON.stringify(value)}: month out of range`);
  const last = new Date(Date.UTC(2000, month, 0));
  last.setUTCFullYear(year, month, 0);
  if (day < 1 || day > last.getUTCDate()) fail(`parsing time ${JSON.stringify(value)}: day out of range`);
  if (hour > 23 || minute > 59 || second > 59)
    fail(`parsing time ${JSON.stringify(value)}: value out of range`);
  const t = new Date(0);
  t.setUTCFullYear(year, month - 1, day);
  t.setUTCHours(hour, minute, second, 0);
  const ns = (BigInt(t.getTime()) - BigInt(offset) * 1000n) * 1_000_000n + nanos;
  if (ns < -(2n ** 63n) || ns >= 2n ** 63n) fail('time outside of valid range');
  return ns;
}
