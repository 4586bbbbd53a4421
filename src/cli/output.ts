import { Chalk } from 'chalk';

/**
 * Where commands print: data to stdout, progress and diagnostics to stderr. Tests pass their own sinks and
 * read what was printed. Colour honours NO_COLOR and is off when stderr/stdout is not a TTY.
 */
export interface Output {
  out(text: string): void;
  err(text: string): void;
}

export const processOutput: Output = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

const colourLevel = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '' ? 0 : process.stdout.isTTY ? 1 : 0;
export const colour = new Chalk({ level: colourLevel });

export function printJson(output: Output, value: unknown): void {
  output.out(JSON.stringify(value, null, 2));
}

/** A plain text table with right-aligned numeric columns. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const numeric = headers.map((_, i) => rows.every((r) => /^[-+\d.,%x ]*$/.test(r[i]) || r[i] === '-'));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The same table as GitHub markdown. */
export function formatMarkdownTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

/** "2 replicas × 1 thread": an arrangement of the cores as the user reads it. */
export function arrangementText(a: { readonly replicas: number; readonly threads: number }): string {
  return `${a.replicas} replica${a.replicas === 1 ? '' : 's'} × ${a.threads} thread${a.threads === 1 ? '' : 's'}`;
}

/** The arrangement picked and what each probe measured, on one line ("one candidate" when nothing was probed). */
export function arrangementChoice(best: { readonly replicas: number; readonly threads: number }, probed: readonly { readonly replicas: number; readonly threads: number; readonly msPerStep: number }[]): string {
  return `${arrangementText(best)} (fastest of ${probed.map((p) => `${arrangementText(p)} ${p.msPerStep.toFixed(0)} ms/step`).join(', ') || 'one candidate'})`;
}
