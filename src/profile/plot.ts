import type { OutputOptions } from '../util/output-path.js';
import { writeChartPng } from '../util/png.js';

/** One measured model on the latency-vs-MAdds chart. */
export interface LatencyPoint {
  /** Series the point belongs to (model family, or family + runtime). */
  readonly series: string;
  /** Short label beside the point (e.g. the width "1.0"). */
  readonly label: string;
  readonly madds: number;
  readonly latencyMs: number;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const escapeXml = (text: string): string => text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** Round tick steps (1, 2, 5 x 10^n) giving about `count` ticks up to `max`. */
function ticks(max: number, count = 5): number[] {
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  return Array.from({ length: Math.floor(max / step) + 1 }, (_, i) => i * step);
}

/** A scatter-and-line chart of latency (ms) against MAdds (M), one coloured series per family, as SVG. */
export function latencyPlotSvg(points: readonly LatencyPoint[], title: string): string {
  const [width, height, left, right, top, bottom] = [720, 480, 70, 170, 40, 50];
  const maxX = Math.max(...points.map((p) => p.madds / 1e6)) * 1.1 || 1;
  const maxY = Math.max(...points.map((p) => p.latencyMs)) * 1.15 || 1;
  const x = (madds: number) => left + ((madds / 1e6) / maxX) * (width - left - right);
  const y = (ms: number) => height - bottom - (ms / maxY) * (height - top - bottom);
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`];
  for (const t of ticks(maxX)) {
    parts.push(`<line x1="${x(t * 1e6)}" y1="${top}" x2="${x(t * 1e6)}" y2="${height - bottom}" stroke="#eee"/>`,
      `<text x="${x(t * 1e6)}" y="${height - bottom + 16}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(maxY)) {
    parts.push(`<line x1="${left}" y1="${y(t)}" x2="${width - right}" y2="${y(t)}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${Number(t.toPrecision(3))}</text>`);
  }
  parts.push(`<rect x="${left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" fill="none" stroke="#333"/>`,
    `<text x="${(left + width - right) / 2}" y="${height - 12}" text-anchor="middle">MAdds (M)</text>`,
    `<text transform="translate(18,${(top + height - bottom) / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`);
  const series = [...new Set(points.map((p) => p.series))];
  series.forEach((name, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const own = points.filter((p) => p.series === name).sort((a, b) => a.madds - b.madds);
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="2" points="${own.map((p) => `${x(p.madds)},${y(p.latencyMs)}`).join(' ')}"/>`);
    for (const p of own) {
      parts.push(`<circle cx="${x(p.madds)}" cy="${y(p.latencyMs)}" r="4" fill="${colour}"/>`,
        `<text x="${x(p.madds) + 6}" y="${y(p.latencyMs) - 6}" fill="${colour}" font-size="10">${escapeXml(p.label)}</text>`);
    }
    parts.push(`<rect x="${width - right + 14}" y="${top + i * 20}" width="12" height="12" fill="${colour}"/>`,
      `<text x="${width - right + 32}" y="${top + i * 20 + 11}">${escapeXml(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes the chart as a PNG by the output rules (never over a file mnext did not write, unless `force`). */
export async function writeLatencyPlot(path: string, points: readonly LatencyPoint[], title: string, options: OutputOptions = {}): Promise<void> {
  if (points.length === 0) throw new Error('writeLatencyPlot: no measured points to plot');
  await writeChartPng(path, latencyPlotSvg(points, title), options);
}
