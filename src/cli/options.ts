import { InvalidArgumentError } from 'commander';
import { INTERPOLATIONS, type Interpolation } from '../data/transforms.js';

/** Commander argument parsers whose errors name the expected value (sharp style). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  return n;
}

export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a non-negative number, got "${value}"`);
  return n;
}

export function interpolation(value: string): Interpolation {
  if (!INTERPOLATIONS.includes(value as Interpolation)) throw new InvalidArgumentError(`expected one of ${INTERPOLATIONS.join(', ')}, got "${value}"`);
  return value as Interpolation;
}

/** `--force`, the same flag and help on every command that writes (the rules are in src/util/output-path.ts). */
export const FORCE_OPTION = ['--force', 'replace an existing output even if mnext did not write it (still atomically)'] as const;

/** "1.4,1.0,0.75" -> [1.4, 1, 0.75] */
export function numberList(parse: (v: string) => number): (value: string) => number[] {
  return (value) => value.split(',').map((v) => parse(v.trim()));
}

export function stringList(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter((v) => v.length > 0);
}
