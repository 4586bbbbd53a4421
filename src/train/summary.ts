/**
 * The per-epoch record of a run: summary.csv (timm's columns plus lr and img/s) and curves.png, a small SVG
 * chart of loss and top-1 per epoch (train vs eval) rendered to PNG with sharp. Both are rewritten atomically
 * from the full list of rows after every epoch, so a resumed run's files equal an uninterrupted run's.
 */
import { type FileOutputKind, type OutputOptions, checkOutputPath, readFirstLine, writeOutputFile } from '../util/output-path.js';
import { CHART_PNG, writeChartPng } from '../util/png.js';

export interface SummaryRow {
  epoch: number;
  train_loss: number;
  eval_loss: number;
  eval_top1: number;
  eval_top5: number;
  lr: number;
  img_per_sec: number;
  /** Top-1 on the augmented training batches (curves only; not a timm summary column). */
  train_top1: number;
}

const COLUMNS: readonly (keyof SummaryRow)[] = ['epoch', 'train_loss', 'eval_loss', 'eval_top1', 'eval_top5', 'lr', 'img_per_sec'];
const HEADER = 'epoch,train_loss,eval_loss,eval_top1,eval_top5,lr,img/s';

function cell(key: keyof SummaryRow, value: number): string {
  if (key === 'epoch') return String(value);
  if (key === 'img_per_sec') return value.toFixed(1);
  return Number(value.toPrecision(8)).toString();
}

export function summaryCsv(rows: readonly SummaryRow[]): string {
  return `${[HEADER, ...rows.map((r) => COLUMNS.map((k) => cell(k, r[k])).join(','))].join('\n')}\n`;
}

/** A summary.csv mnext wrote: its header row is exactly mnext's. */
const SUMMARY_CSV: FileOutputKind = { type: 'file', description: 'training summary (summary.csv)', recognise: (path) => readFirstLine(path) === HEADER };

/** Throws the refusal writing summary.csv or curves.png would end in (a file there that mnext did not write). */
export function checkRecordPaths(summaryPath: string, curvesPath: string, options: OutputOptions = {}): void {
  checkOutputPath(summaryPath, SUMMARY_CSV, options);
  checkOutputPath(curvesPath, CHART_PNG, options);
}

export function writeSummary(path: string, rows: readonly SummaryRow[], options: OutputOptions = {}): void {
  writeOutputFile(path, SUMMARY_CSV, summaryCsv(rows), options);
}

interface Series {
  readonly label: string;
  readonly colour: string;
  readonly values: readonly number[];
  readonly dashed?: boolean;
}

const PANEL = { width: 380, height: 260, left: 52, right: 12, top: 30, bottom: 36 };

function niceRange(values: readonly number[], floorZero: boolean): [number, number] {
  const finite = values.filter(Number.isFinite);
  let low = floorZero ? 0 : Math.min(...finite);
  let high = Math.max(...finite);
  if (finite.length === 0) return [0, 1];
  if (high - low < 1e-9) { low -= 0.5; high += 0.5; }
  return [low, high];
}

/** One chart panel as SVG elements, offset by x0. */
function panel(title: string, epochs: readonly number[], series: readonly Series[], x0: number, floorZero: boolean): string {
  const { width, height, left, right, top, bottom } = PANEL;
  const [low, high] = niceRange(series.flatMap((s) => s.values), floorZero);
  const firstEpoch = epochs[0] ?? 0;
  const lastEpoch = Math.max(firstEpoch + 1, epochs[epochs.length - 1] ?? 1);
  const x = (e: number) => x0 + left + ((e - firstEpoch) / (lastEpoch - firstEpoch)) * (width - left - right);
  const y = (v: number) => top + (1 - (v - low) / (high - low)) * (height - top - bottom);
  const parts = [
    `<text x="${x0 + width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`,
    `<rect x="${x0 + left}" y="${top}" width="${width - left - right}" height="${height - top - bottom}" fill="none" stroke="#999"/>`,
  ];
  for (let i = 0; i <= 4; i += 1) {
    const v = low + ((high - low) * i) / 4;
    parts.push(`<text x="${x0 + left - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${Number(v.toPrecision(3))}</text>`);
  }
  parts.push(`<text x="${x0 + left}" y="${height - 18}" font-size="10">${firstEpoch}</text>`);
  parts.push(`<text x="${x0 + width - right}" y="${height - 18}" text-anchor="end" font-size="10">${lastEpoch}</text>`);
  parts.push(`<text x="${x0 + width / 2}" y="${height - 6}" text-anchor="middle" font-size="11">epoch</text>`);
  series.forEach((s, i) => {
    const points = s.values.map((v, j) => (Number.isFinite(v) ? `${x(epochs[j]).toFixed(1)},${y(v).toFixed(1)}` : '')).filter(Boolean);
    const dash = s.dashed ? ' stroke-dasharray="5,3"' : '';
    if (points.length > 1) parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${s.colour}" stroke-width="2"${dash}/>`);
    for (const p of points) parts.push(`<circle cx="${p.split(',')[0]}" cy="${p.split(',')[1]}" r="2.5" fill="${s.colour}"/>`);
    parts.push(`<text x="${x0 + left + 8}" y="${top + 14 + 13 * i}" font-size="11" fill="${s.colour}">${s.label}</text>`);
  });
  return parts.join('\n');
}

/** Loss and top-1 per epoch, train (measured on the augmented batches while training) vs eval, plus eval top-5. */
export function curvesSvg(rows: readonly SummaryRow[], title: string): string {
  const epochs = rows.map((r) => r.epoch);
  const loss = panel('loss', epochs, [
    { label: 'train', colour: '#1f77b4', values: rows.map((r) => r.train_loss) },
    { label: 'eval', colour: '#d62728', values: rows.map((r) => r.eval_loss) },
  ], 0, true);
  const accuracy = panel('top-1 (%)', epochs, [
    { label: 'train (augmented)', colour: '#1f77b4', values: rows.map((r) => r.train_top1) },
    { label: 'eval top-1', colour: '#d62728', values: rows.map((r) => r.eval_top1) },
    { label: 'eval top-5', colour: '#ff9896', values: rows.map((r) => r.eval_top5), dashed: true },
  ], PANEL.width, true);
  const width = PANEL.width * 2;
  const height = PANEL.height + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<g transform="translate(0,20)">${loss}\n${accuracy}</g>`,
    `<text x="${width / 2}" y="14" text-anchor="middle" font-size="12" fill="#555">${escapeXml(title)}</text>`,
    '</svg>',
  ].join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export async function writeCurves(path: string, rows: readonly SummaryRow[], title: string, options: OutputOptions = {}): Promise<void> {
  await writeChartPng(path, curvesSvg(rows, title), options);
}
