import cliProgress from 'cli-progress';
import type { Output } from './output.js';

/**
 * Progress for long work: a cli-progress bar on stderr when stderr is a terminal, otherwise a plain line through
 * the Output sink every `intervalMs` (default 10 s) and one at the end, so logs and CI stay readable.
 */

export interface ProgressOptions {
  /** What is being counted, e.g. "epoch 3" or "decode". */
  label: string;
  total: number;
  /** Unit name for the rate, e.g. "images" or "batches". */
  unit?: string;
  /** Where plain lines go when not drawing a bar. */
  output: Output;
  /** Draw a bar (default: process.stderr.isTTY). */
  tty?: boolean;
  /** Nothing at all is printed when false (e.g. --quiet). */
  enabled?: boolean;
  /** Plain-line period in ms. */
  intervalMs?: number;
  /** Bar mode: erase the bar when it stops (train keeps only its epoch summaries on screen). */
  transient?: boolean;
}

export type ProgressStatus = Record<string, string | number>;

export interface Progress {
  increment(amount?: number, status?: ProgressStatus): void;
  update(value: number, status?: ProgressStatus): void;
  /** A message line (a warning, a note) printed without tearing the bar. */
  log(message: string): void;
  /** Final line (plain mode) or bar teardown; safe to call twice. */
  stop(): void;
}

function formatStatus(status: ProgressStatus): string {
  return Object.entries(status).map(([k, v]) => `${k} ${typeof v === 'number' ? formatNumber(v) : v}`).join(', ');
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return minutes < 60 ? `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

class PlainProgress implements Progress {
  private value = 0;
  private status: ProgressStatus = {};
  private readonly started = performance.now();
  private lastLine = performance.now();
  private stopped = false;

  constructor(private readonly options: ProgressOptions & { intervalMs: number; unit: string }) {}

  increment(amount = 1, status?: ProgressStatus): void {
    this.update(this.value + amount, status);
  }

  update(value: number, status?: ProgressStatus): void {
    this.value = value;
    if (status !== undefined) this.status = { ...this.status, ...status };
    if (performance.now() - this.lastLine >= this.options.intervalMs) this.print();
  }

  log(message: string): void {
    this.options.output.err(message);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.print();
  }

  /** "epoch 1: 640/1280 images (50%), 212.4 images/s, eta 3s, loss 2.31" */
  private print(): void {
    this.lastLine = performance.now();
    const { label, total, unit } = this.options;
    const seconds = (this.lastLine - this.started) / 1000;
    const rate = seconds > 0 ? this.value / seconds : 0;
    const percent = total > 0 ? Math.floor((100 * this.value) / total) : 100;
    const parts = [`${this.value}/${total} ${unit} (${percent}%)`, `${rate.toFixed(1)} ${unit}/s`];
    if (this.value < total) parts.push(`eta ${formatDuration(rate > 0 ? (total - this.value) / rate : Infinity)}`);
    else parts.push(`took ${formatDuration(seconds)}`);
    const status = formatStatus(this.status);
    if (status !== '') parts.push(status);
    this.options.output.err(`${label}: ${parts.join(', ')}`);
  }
}

class BarProgress implements Progress {
  /** A MultiBar holding one bar: it can print message lines above the bar. */
  private readonly bars: cliProgress.MultiBar;
  private readonly bar: cliProgress.SingleBar;
  private readonly started = performance.now();
  private value = 0;
  private stopped = false;

  constructor(options: ProgressOptions & { unit: string }) {
    this.bars = new cliProgress.MultiBar({
      format: `${options.label} [{bar}] {value}/{total} ${options.unit} | {rate} ${options.unit}/s | eta {eta_formatted} {status}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
      clearOnComplete: options.transient ?? false,
    }, cliProgress.Presets.shades_classic);
    this.bar = this.bars.create(options.total, 0, { status: '', rate: '0.0' });
  }

  increment(amount = 1, status?: ProgressStatus): void {
    this.update(this.value + amount, status);
  }

  update(value: number, status?: ProgressStatus): void {
    this.value = value;
    this.bar.update(value, this.payload(value, status));
  }

  private payload(value: number, status?: ProgressStatus): object {
    const seconds = (performance.now() - this.started) / 1000;
    const payload: Record<string, string> = { rate: (seconds > 0 ? value / seconds : 0).toFixed(1) };
    if (status !== undefined) payload.status = formatStatus(status);
    return payload;
  }

  log(message: string): void {
    this.bars.log(`${message}\n`);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bars.stop();
  }
}

/** No progress lines at all; messages still reach stderr. */
class SilentProgress implements Progress {
  constructor(private readonly output: Output) {}
  increment(): void {}
  update(): void {}
  log(message: string): void {
    this.output.err(message);
  }

  stop(): void {}
}

export function startProgress(options: ProgressOptions): Progress {
  if (options.enabled === false) return new SilentProgress(options.output);
  const unit = options.unit ?? 'items';
  if (options.tty ?? process.stderr.isTTY === true) return new BarProgress({ ...options, unit });
  return new PlainProgress({ ...options, unit, intervalMs: options.intervalMs ?? 10_000 });
}

/**
 * Progress for a library call that reports `(done, total)` as it goes (evaluate, the benchmarks, the dataset
 * makers): the display starts with the first report, so the caller does not need the total in advance.
 */
export function reportedProgress(options: Omit<ProgressOptions, 'total'>): { readonly onProgress: (done: number, total: number) => void; stop(): void } {
  let progress: Progress | undefined;
  return {
    onProgress: (done, total) => {
      progress ??= startProgress({ ...options, total });
      progress.update(done);
    },
    stop: () => progress?.stop(),
  };
}

/**
 * Passes items through while advancing the progress by `weight(item)` (e.g. a batch's image count); stops the
 * progress when the iteration ends, breaks or throws.
 */
export async function* trackProgress<T>(items: AsyncIterable<T>, progress: Progress, weight: (item: T) => number = () => 1): AsyncGenerator<T> {
  try {
    for await (const item of items) {
      progress.increment(weight(item));
      yield item;
    }
  } finally {
    progress.stop();
  }
}
