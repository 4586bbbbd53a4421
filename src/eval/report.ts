import { type FileOutputKind, type OutputOptions, checkOutputPath, readFirstLine, readHead, writeOutputFile } from '../util/output-path.js';
import { CHART_PNG, writeChartPng } from '../util/png.js';
import type { EvalResult, Evaluation } from './evaluate.js';

const escapeXml = (text: string): string => text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** The confusion matrix as text: rows true class, columns predicted, counts. */
export function formatConfusion(result: EvalResult): string {
  const names = result.predictedClasses;
  const rowNames = result.perClass.map((c) => c.name);
  const width = Math.max(4, ...names.map((n) => n.length), ...result.confusion.flat().map((v) => String(v).length));
  const label = Math.max(...rowNames.map((n) => n.length), 'true \\ pred'.length);
  const header = `${'true \\ pred'.padEnd(label)}  ${names.map((n) => n.slice(0, width).padStart(width)).join(' ')}`;
  const rows = result.confusion.map((row, r) => `${rowNames[r].padEnd(label)}  ${row.map((v) => String(v).padStart(width)).join(' ')}`);
  return [header, ...rows].join('\n');
}

/** A heat-map SVG of the row-normalised confusion matrix, with class names and counts. */
export function confusionSvg(result: EvalResult): string {
  const rows = result.confusion;
  const cols = result.predictedClasses;
  const cell = Math.max(6, Math.min(40, Math.floor(800 / Math.max(rows.length, cols.length))));
  const showText = cell >= 24;
  const margin = showText ? 120 : 40;
  const w = margin + cols.length * cell + 20;
  const h = margin + rows.length * cell + 20;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`,
    `<rect width="${w}" height="${h}" fill="white"/>`,
    `<text x="${margin}" y="14">predicted →  (rows: true class; top-1 ${result.top1.toFixed(2)}%)</text>`];
  rows.forEach((row, r) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    row.forEach((count, c) => {
      const shade = Math.round(255 * (1 - count / total));
      parts.push(`<rect x="${margin + c * cell}" y="${margin + r * cell}" width="${cell}" height="${cell}" fill="rgb(${shade},${shade},255)" stroke="#ddd"/>`);
      if (showText && count > 0) {
        parts.push(`<text x="${margin + c * cell + cell / 2}" y="${margin + r * cell + cell / 2 + 4}" text-anchor="middle" fill="${shade < 128 ? 'white' : 'black'}">${count}</text>`);
      }
    });
    if (showText) parts.push(`<text x="${margin - 4}" y="${margin + r * cell + cell / 2 + 4}" text-anchor="end">${escapeXml(result.perClass[r].name.slice(0, 18))}</text>`);
  });
  if (showText) {
    cols.forEach((name, c) => {
      const x = margin + c * cell + cell / 2;
      parts.push(`<text transform="translate(${x},${margin - 4}) rotate(-60)">${escapeXml(name.slice(0, 18))}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('\n');
}

export async function writeConfusionPng(path: string, result: EvalResult, options: OutputOptions = {}): Promise<void> {
  await writeChartPng(path, confusionSvg(result), options);
}

/** One results row like timm's validate.py (`--results-file`), plus loss, throughput and runtime. */
export interface ResultsRow {
  model: string;
  top1: number;
  top1_err: number;
  top5: number;
  top5_err: number;
  loss: number;
  images: number;
  img_per_sec: number;
  img_size: number;
  crop_pct: number;
  interpolation: string;
  runtime: string;
}

export function resultsRow(result: Evaluation): ResultsRow {
  const round = (v: number, digits: number) => Number(v.toFixed(digits));
  return {
    model: result.model, top1: round(result.top1, 3), top1_err: round(100 - result.top1, 3), top5: round(result.top5, 3), top5_err: round(100 - result.top5, 3),
    loss: round(result.loss, 4), images: result.images, img_per_sec: round(result.imgPerSec, 2), img_size: result.imageSize, crop_pct: result.cropPct,
    interpolation: result.interpolation, runtime: result.runtime,
  };
}

const csvCell = (value: string | number): string => {
  const text = String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
};

const RESULTS_COLUMNS: readonly (keyof ResultsRow)[] = [
  'model', 'top1', 'top1_err', 'top5', 'top5_err', 'loss', 'images', 'img_per_sec', 'img_size', 'crop_pct', 'interpolation', 'runtime',
];

/** A results file mnext wrote: a CSV whose header row is exactly mnext's columns, or a JSON list of such rows. */
function isResultsFile(path: string): boolean {
  const sameColumns = (keys: readonly string[]) => keys.join(',') === RESULTS_COLUMNS.join(',');
  if (!path.toLowerCase().endsWith('.json')) return sameColumns(readFirstLine(path).split(','));
  const rows: unknown = JSON.parse(new TextDecoder().decode(readHead(path, 1 << 20)));
  return Array.isArray(rows) && rows.length > 0 && rows.every((row) => typeof row === 'object' && row !== null && sameColumns(Object.keys(row)));
}

const RESULTS_FILE: FileOutputKind = { type: 'file', description: 'results file', recognise: isResultsFile };

/**
 * Fails before an evaluation when its --results-file or --confusion path may not be written (a file mnext did
 * not write, a folder), so a long run does not end in a refusal.
 */
export function checkReportPaths(paths: { resultsFile?: string; confusion?: string }, options: OutputOptions = {}): void {
  if (paths.resultsFile !== undefined) checkOutputPath(paths.resultsFile, RESULTS_FILE, options);
  if (paths.confusion !== undefined) checkOutputPath(paths.confusion, CHART_PNG, options);
}

/** Writes the row as .json or .csv (by extension), by the output rules (util/output-path.ts). */
export function writeResultsFile(path: string, row: ResultsRow, options: OutputOptions = {}): void {
  const text = path.toLowerCase().endsWith('.json')
    ? `${JSON.stringify([row], null, 2)}\n`
    : `${RESULTS_COLUMNS.join(',')}\n${RESULTS_COLUMNS.map((k) => csvCell(row[k])).join(',')}\n`;
  writeOutputFile(path, RESULTS_FILE, text, options);
}
