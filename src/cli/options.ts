import { type Command, InvalidArgumentError, Option } from 'commander';
import { INTERPOLATIONS, type Interpolation } from '../data/transforms.js';

/**
 * One vocabulary: the same flag for the same concept in every command, timm's name where timm has one.
 * - `--img-size N`: the square input side (timm's train.py, validate.py and benchmark.py). timm's `--input-size`
 *   is the full channels-height-width triple; mnext's networks take square RGB input, so the one number is
 *   `--img-size`, and the names commands used before (`--input-size`, `--image-size`, `--size`) are hidden aliases.
 * - `-b, --batch-size N` (timm's), with the older `--batch` a hidden alias.
 * - `--workers N`: image decodes in flight (timm's data-loader workers); `--replicas N`: data-parallel training
 *   engines (train's key; bench train's older `--workers` for it is a hidden alias).
 * Old spellings stay accepted so scripts written for them keep working; --help lists only the current names.
 */

/** A hidden older spelling of an option: same argument parser, and it sets the same value. */
class AliasOption extends Option {
  constructor(flags: string, private readonly target: Option) {
    super(flags);
    this.hideHelp();
    if (target.parseArg) this.argParser(target.parseArg);
  }

  override attributeName(): string {
    return this.target.attributeName();
  }
}

/** A hidden alias `flag` of `option` (same argument, same value), for a command built as one chain. */
export function aliasOf(flag: string, option: Option): Option {
  const argument = /[<[].*$/.exec(option.flags)?.[0];
  return new AliasOption(argument ? `${flag} ${argument}` : flag, option);
}

/** Adds `option` and its older long names (`--batch`) as hidden aliases taking the same argument. */
export function addOption(command: Command, option: Option, ...aliases: string[]): Command {
  command.addOption(option);
  for (const alias of aliases) command.addOption(aliasOf(alias, option));
  return command;
}

/** Older names of `--img-size` and `--batch-size`, accepted everywhere those are. */
export const IMG_SIZE_ALIASES = ['--input-size', '--image-size'] as const;
export const BATCH_SIZE_ALIASES = ['--batch'] as const;

/** `--img-size <px>` and its hidden aliases. */
export function addImgSize(command: Command, description: string, defaultValue?: number): Command {
  const option = new Option('--img-size <px>', description).argParser(positiveInt);
  if (defaultValue !== undefined) option.default(defaultValue);
  return addOption(command, option, ...IMG_SIZE_ALIASES);
}

/** `-b, --batch-size <n>` and its hidden alias. */
export function addBatchSize(command: Command, defaultValue: number, description = 'images per batch'): Command {
  return addOption(command, new Option('-b, --batch-size <n>', description).argParser(positiveInt).default(defaultValue), ...BATCH_SIZE_ALIASES);
}

/** Two or three command lines for the end of a command's --help: `.addHelpText('after', examples(...))`. */
/** How a .pth state_dict or a model name becomes a model: the flags every command that takes `--model` shares. */
export function addModelSourceOptions(command: Command, useEmaVerb: string): Command {
  return command
    .option('--arch <name>', 'architecture of a .pth state_dict')
    .option('--width <w>', 'width multiplier (model names and .pth files)', positiveNumber)
    .option('--num-classes <n>', 'classes (model names and .pth files)', positiveInt)
    .option('--tensor-multiplier <k>', 'partial identity divisor k (model names and .pth files)', positiveInt)
    .option('--use-ema', `${useEmaVerb} a checkpoint's EMA weights`);
}

export function examples(...lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`;
}

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
