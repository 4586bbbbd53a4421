import { InvalidModelError } from '../errors.js';
import { EFFICIENT_MNEXT_FAMILIES } from './efficient-mnext.js';
import type { ModelGraph, ModelSpec } from './graph.js';
import { mobilenetv2 } from './mobilenetv2.js';
import { mobilenext } from './mobilenext.js';

/** An architecture family: how to build a graph from a spec, and its defaults. */
export interface ArchFamily {
  readonly arch: string;
  readonly description: string;
  /** Whether any width multiplier may be requested (false: the family has one fixed width). */
  readonly anyWidth: boolean;
  readonly defaults: Omit<ModelSpec, 'arch'>;
  readonly build: (spec: ModelSpec) => ModelGraph;
  /** Other spellings accepted for the family (fixture files say `mnext` / `mbv2`). */
  readonly aliases: readonly string[];
}

const IMAGENET = { numClasses: 1000, inputSize: 224, tensorMultiplier: 1, dropRate: 0.2, dropConnectRate: 0 };

const families = new Map<string, ArchFamily>();

export function registerFamily(family: ArchFamily): void {
  families.set(family.arch, family);
}

registerFamily({
  arch: 'mobilenext',
  description: 'MobileNeXt (official MXNet, sandglass blocks)',
  anyWidth: true,
  defaults: { width: 1, ...IMAGENET },
  build: mobilenext,
  aliases: ['mnext', 'mnext_mbv2_cfg', 'i2rnetv3'],
});

registerFamily({
  arch: 'mobilenetv2',
  description: 'MobileNetV2 (torchvision layout, the paper baseline)',
  anyWidth: true,
  defaults: { width: 1, ...IMAGENET },
  build: mobilenetv2,
  aliases: ['mbv2', 'mobilenet_v2'],
});

for (const family of EFFICIENT_MNEXT_FAMILIES) registerFamily(family);

/** Widths with registered names (`mobilenext_075` = MobileNeXt at width 0.75). */
export const PAPER_WIDTHS = [1.4, 1.0, 0.75, 0.5, 0.35] as const;

export function widthSuffix(width: number): string {
  return String(Math.round(width * 100)).padStart(3, '0');
}

/** A shell-style wildcard (`*`, `?`; case-insensitive) as a whole-name pattern, like timm's list_models filter. */
function wildcard(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

/**
 * Every registered model name: families plus `<family>_<width*100>` for the paper widths; with a pattern
 * (`'mobilenext*'`, `'*_075'`), the names it matches.
 */
export function listModelNames(pattern?: string): string[] {
  const names: string[] = [];
  for (const family of families.values()) {
    if (family.anyWidth) names.push(...PAPER_WIDTHS.map((w) => `${family.arch}_${widthSuffix(w)}`));
    else names.push(family.arch);
  }
  if (pattern === undefined) return names;
  const matcher = wildcard(pattern);
  return names.filter((name) => matcher.test(name));
}

export function listFamilies(): ArchFamily[] {
  return [...families.values()];
}

export interface ModelRequest {
  readonly width?: number;
  readonly numClasses?: number;
  readonly inputSize?: number;
  readonly tensorMultiplier?: number;
  readonly dropRate?: number;
  readonly dropConnectRate?: number;
}

/** Resolves a name (`mobilenext`, `mobilenext_075`, `mnext`, `mnext_s`) to its family and the width it implies. */
export function resolveModelName(name: string): { family: ArchFamily; width?: number } {
  const lower = name.toLowerCase();
  for (const family of families.values()) {
    if (family.arch === lower || family.aliases.includes(lower)) return { family };
    const match = new RegExp(`^${family.arch}_(\\d{3})$`).exec(lower);
    if (match && family.anyWidth) return { family, width: Number(match[1]) / 100 };
  }
  throw new InvalidModelError(`unknown model '${name}'; known models: ${listModelNames().join(', ')} (or a family name with --width)`);
}

function checkPositive(name: string, value: number, integer: boolean): void {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new InvalidModelError(`${name}: expected a positive ${integer ? 'integer' : 'number'}, got ${value}`);
  }
}

/** The full spec for a name plus overrides, validated. */
export function resolveModelSpec(name: string, request: ModelRequest = {}): ModelSpec {
  const { family, width: impliedWidth } = resolveModelName(name);
  const width = request.width ?? impliedWidth ?? family.defaults.width;
  if (!family.anyWidth && width !== family.defaults.width) {
    throw new InvalidModelError(`${family.arch} has a fixed width of ${family.defaults.width}; got --width ${width}`);
  }
  if (impliedWidth !== undefined && request.width !== undefined && request.width !== impliedWidth) {
    throw new InvalidModelError(`model '${name}' implies width ${impliedWidth} but --width ${request.width} was given`);
  }
  const spec: ModelSpec = { arch: family.arch, ...family.defaults, ...definedOnly(request), width };
  checkPositive('width', spec.width, false);
  checkPositive('num_classes', spec.numClasses, true);
  checkPositive('input size', spec.inputSize, true);
  checkPositive('tensor multiplier', spec.tensorMultiplier, true);
  if (spec.dropRate < 0 || spec.dropRate >= 1) throw new InvalidModelError(`drop rate: expected a number in [0, 1), got ${spec.dropRate}`);
  if (spec.dropConnectRate < 0 || spec.dropConnectRate >= 1) {
    throw new InvalidModelError(`drop-connect rate: expected a number in [0, 1), got ${spec.dropConnectRate}`);
  }
  return spec;
}

const REQUEST_KEYS = ['width', 'numClasses', 'inputSize', 'tensorMultiplier', 'dropRate', 'dropConnectRate'] as const;

/** The request's model-shaping fields that are set (callers may pass wider option objects). */
function definedOnly(request: ModelRequest): Partial<ModelSpec> {
  return Object.fromEntries(REQUEST_KEYS.filter((k) => request[k] !== undefined).map((k) => [k, request[k]])) as Partial<ModelSpec>;
}

export function buildGraph(spec: ModelSpec): ModelGraph {
  const { family } = resolveModelName(spec.arch);
  return family.build(spec);
}

/** `createModelGraph('mobilenext_075', { numClasses: 10 })`: the one door into the zoo. */
export function createModelGraph(name: string, request: ModelRequest = {}): ModelGraph {
  return buildGraph(resolveModelSpec(name, request));
}
