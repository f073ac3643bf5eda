import { evaluate } from './evaluate.ts';
import { AnomalyKind, generateSeries } from './generated.ts';
import { SeriesDetector } from './series.ts';
const thr = Number(process.argv[2] ?? 0.5);
for (const kind of Object.values(AnomalyKind)) {
  let alarms = 0,
    fa = 0,
    det = 0,
    win = 0;
  const delays: number[] = [];
  for (let seed = 1; seed <= 30; seed++) {
    const s = generateSeries(kind, seed * 7919);
    const d = new SeriesDetector();
    const scores = s.values.map((v) => d.update(v).score);
    const e = evaluate(scores, s.windows, { threshold: thr, tolerance: 10 });
    alarms += e.alarms;
    fa += e.falseAlarms;
    const k = e.byKind[kind]!;
    det += k.detected;
    win += k.windows;
    if (!Number.isNaN(k.meanDelay)) delays.push(k.meanDelay);
  }
  console.log(
    kind.padEnd(16),
    'precision',
    ((alarms - fa) / Math.max(1, alarms)).toFixed(2),
    'recall',
    (det / win).toFixed(2),
    'falseAlarms',
    fa,
    'delay',
    (delays.reduce((a, b) => a + b, 0) / delays.length).toFixed(1),
  );
}
