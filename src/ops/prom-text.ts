// The Prometheus text exposition format (version 0.0.4) for the few metrics `serve --role worker` exports:
// gauges read at scrape time and one histogram. Enough of the format for that, without a metrics library.
export const PROM_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const escLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
const num = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escLabel(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export function gaugeText(name: string, help: string, samples: { labels: Record<string, string>; value: number }[]): string {
  const lines = [`# HELP ${name} ${escHelp(help)}`, `# TYPE ${name} gauge`];
  for (const s of samples) lines.push(`${name}${labelText(s.labels)} ${num(s.value)}`);
  return `${lines.join('\n')}\n`;
}

/** A cumulative histogram per label set. */
export class TextHistogram {
  private readonly series = new Map<string, { labels: Record<string, string>; counts: number[]; sum: number; count: number }>();

  constructor(private readonly def: { name: string; help: string; labelNames: string[]; buckets: number[] }) {}

  observe(labels: Record<string, string>, value: number): void {
    const key = this.def.labelNames.map((n) => labels[n] ?? '').join('\u0000');
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels: Object.fromEntries(this.def.labelNames.map((n) => [n, labels[n] ?? ''])), counts: this.def.buckets.map(() => 0), sum: 0, count: 0 }));
    this.def.buckets.forEach((b, i) => {
      if (value <= b) s!.counts[i]!++;
    });
    s.sum += value;
    s.count++;
  }

  text(): string {
    const { name } = this.def;
    const lines = [`# HELP ${name} ${escHelp(this.def.help)}`, `# TYPE ${name} histogram`];
    for (const s of this.series.values()) {
      this.def.buckets.forEach((b, i) => lines.push(`${name}_bucket${labelText({ ...s.labels, le: num(b) })} ${s.counts[i]}`));
      lines.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${name}_sum${labelText(s.labels)} ${num(s.sum)}`);
      lines.push(`${name}_count${labelText(s.labels)} ${s.count}`);
    }
    return `${lines.join('\n')}\n`;
  }
}
