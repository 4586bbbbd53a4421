import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { InputError } from '../errors.js';
import { MNEXT_VERSION } from './package.js';

/**
 * The one way mnext writes what a command produces (converted models, checkpoints, datasets, exports, results,
 * plots), so that it never destroys what it did not write:
 * - a missing path is created (with its parent folders);
 * - a path holding mnext's own earlier output of the same kind is replaced, atomically, once the new output is
 *   complete and verified (written in full to a staging sibling, recognised as mnext's own, and whatever
 *   `verify` checks, e.g. a converted model re-loaded in its runtime);
 * - anything else (a non-empty folder mnext did not write, a file where a folder is asked for or the reverse, a
 *   foreign file) is an InputError naming the path and `--force`, which replaces it, still atomically.
 *
 * How mnext recognises its own output. Folders carry a marker file, OUTPUT_MARKER, written last into the staged
 * folder: the writer, the kind of output and every path the folder held. A folder is mnext's own output of a kind
 * when its marker names that kind and the folder holds nothing the marker does not list: a file a user added
 * since (an index.html beside a TF.js model in public/) makes the folder theirs. A kind may also recognise
 * folders written before the marker existed (checkpoints by the format field of their model.json). Files carry
 * a signature in their own format that only mnext writes, checked by their kind: the TFLite metadata's author,
 * the ONNX producer name, the zip comment of a .pth export, an XMP CreatorTool in a PNG, the exact header row of
 * a CSV. A format's bare magic number ('TFL3', a PNG signature) is not enough: another tool's file has it too.
 */

export const OUTPUT_MARKER = '.mnext-output.json';

export interface FileOutputKind {
  readonly type: 'file';
  /** What the output is, for messages: 'ONNX model'. */
  readonly description: string;
  /** Whether the (non-empty, regular) file at `path` is mnext's own output of this kind. */
  readonly recognise: (path: string) => boolean;
}

export interface FolderOutputKind {
  readonly type: 'folder';
  readonly description: string;
  /** The kind the folder's marker records. */
  readonly id: string;
  /** Folders of this kind mnext wrote before it wrote markers, recognised by their content. */
  readonly recogniseUnmarked?: (path: string) => boolean;
}

export type OutputKind = FileOutputKind | FolderOutputKind;

export interface OutputOptions {
  /** Replace whatever is at the path, even what mnext did not write (still atomically). */
  readonly force?: boolean;
}

export interface WriteOutputOptions<Verify> extends OutputOptions {
  /** Checks the complete staged output before it takes the path; throwing leaves the path as it was. */
  readonly verify?: (staged: string) => Verify;
}

interface OutputMarker {
  writer: 'mnext';
  version: string;
  kind: string;
  entries: string[];
}

type Existing = { readonly state: 'free' | 'own' } | { readonly state: 'foreign'; readonly reason: string };

/** What is at `path` now, from the point of view of writing a `kind` there. */
function inspect(path: string, kind: OutputKind): Existing {
  let stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'free' };
    throw error;
  }
  if (stats.isDirectory()) {
    if (kind.type === 'file') return { state: 'foreign', reason: `it is a folder and a ${kind.description} is a file` };
    if (readdirSync(path).length === 0) return { state: 'free' };
    return isOwnFolder(path, kind) ? { state: 'own' } : { state: 'foreign', reason: `it is a non-empty folder mnext did not write as a ${kind.description}` };
  }
  if (!stats.isFile()) return { state: 'foreign', reason: 'it is not a regular file (a link or a device)' };
  if (kind.type === 'folder') return { state: 'foreign', reason: `it is a file and a ${kind.description} is a folder` };
  if (stats.size === 0) return { state: 'free' };
  return recognised(kind.recognise, path) ? { state: 'own' } : { state: 'foreign', reason: `it is a file mnext did not write as a ${kind.description}` };
}

/** A recogniser never throws: a file it cannot parse is simply not mnext's. */
function recognised(recognise: (path: string) => boolean, path: string): boolean {
  try {
    return recognise(path);
  } catch {
    return false;
  }
}

/** Every path under `dir` (files and folders), relative, '/'-separated, sorted. */
function listEntries(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).map((entry) => entry.split(sep).join('/')).sort();
}

function isOwnFolder(path: string, kind: FolderOutputKind): boolean {
  let marker: OutputMarker;
  try {
    marker = JSON.parse(readFileSync(join(path, OUTPUT_MARKER), 'utf8')) as OutputMarker;
  } catch {
    return kind.recogniseUnmarked !== undefined && recognised(kind.recogniseUnmarked, path);
  }
  if (marker.writer !== 'mnext' || marker.kind !== kind.id || !Array.isArray(marker.entries)) return false;
  const written = new Set([...marker.entries, OUTPUT_MARKER]);
  return listEntries(path).every((entry) => written.has(entry));
}

function writeMarker(staged: string, kind: FolderOutputKind): void {
  const marker: OutputMarker = { writer: 'mnext', version: MNEXT_VERSION, kind: kind.id, entries: listEntries(staged) };
  writeFileSync(join(staged, OUTPUT_MARKER), `${JSON.stringify(marker)}\n`);
}

function refusal(path: string, reason: string): InputError {
  return new InputError(`refusing to replace ${path}: ${reason}; pass --force to replace it`);
}

/** The nearest existing ancestor of `path` must be a folder (mkdir would fail on a file with ENOTDIR). */
function checkParent(path: string): void {
  let parent = dirname(path);
  for (;;) {
    try {
      if (!statSync(parent).isDirectory()) throw new InputError(`cannot write ${path}: ${parent} is a file, not a folder`);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || dirname(parent) === parent) throw error;
      parent = dirname(parent);
    }
  }
}

/**
 * Throws the InputError a write of `kind` to `path` would end in, before any work is done: for commands that
 * compute for a while (a conversion, an evaluation) and write at the end.
 */
export function checkOutputPath(path: string, kind: OutputKind, options: OutputOptions = {}): void {
  checkParent(path);
  const existing = inspect(path, kind);
  if (existing.state === 'foreign' && !options.force) throw refusal(path, existing.reason);
}

let siblings = 0;

/** A hidden sibling of `path` (same folder, so the final rename stays on one file system), keeping its extension. */
function siblingName(path: string, role: 'staging' | 'replaced'): string {
  siblings += 1;
  const target = resolve(path);
  return join(dirname(target), `.mnext-${role}-${process.pid}-${siblings}-${basename(target)}`);
}

function beginOutput(path: string, kind: OutputKind, options: OutputOptions): string {
  checkOutputPath(path, kind, options);
  try {
    mkdirSync(dirname(path), { recursive: true });
  } catch (error) {
    throw new InputError(`cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const staging = siblingName(path, 'staging');
  if (kind.type === 'folder') mkdirSync(staging);
  return staging;
}

/** Moves the complete, verified staged output into place (after checking the path again: time has passed). */
function finishOutput(path: string, staging: string, kind: OutputKind, options: OutputOptions): void {
  if (kind.type === 'folder') writeMarker(staging, kind);
  if (inspect(staging, kind).state !== 'own') throw new Error(`mnext wrote ${path} in a form it does not recognise as its own ${kind.description}`);
  checkOutputPath(path, kind, options);
  // A file replaces a file in one rename; anything involving a folder moves the old one aside first.
  const replacesInPlace = kind.type === 'file' && !lstatSync(path, { throwIfNoEntry: false })?.isDirectory();
  if (replacesInPlace || !lstatSync(path, { throwIfNoEntry: false })) {
    renameSync(staging, path);
    return;
  }
  const aside = siblingName(path, 'replaced');
  renameSync(path, aside);
  try {
    renameSync(staging, path);
  } catch (error) {
    renameSync(aside, path);
    throw error;
  }
  rmSync(aside, { recursive: true, force: true });
}

function abandonOutput(staging: string): void {
  rmSync(staging, { recursive: true, force: true });
}

/**
 * Writes an output of `kind` at `path` by the rules above: `write` fills the staged path (a file to create, or
 * an empty folder), `verify` may check it, then it takes the path.
 */
export async function writeOutput(
  path: string, kind: OutputKind, write: (staged: string) => void | Promise<void>, options: WriteOutputOptions<void | Promise<void>> = {},
): Promise<void> {
  const staging = beginOutput(path, kind, options);
  try {
    await write(staging);
    await options.verify?.(staging);
    finishOutput(path, staging, kind, options);
  } catch (error) {
    abandonOutput(staging);
    throw error;
  }
}

/** writeOutput for synchronous writers (checkpoints saved between training steps, small files). */
export function writeOutputSync(path: string, kind: OutputKind, write: (staged: string) => void, options: WriteOutputOptions<void> = {}): void {
  const staging = beginOutput(path, kind, options);
  try {
    write(staging);
    options.verify?.(staging);
    finishOutput(path, staging, kind, options);
  } catch (error) {
    abandonOutput(staging);
    throw error;
  }
}

/** Writes one file of `kind` by the rules above. */
export function writeOutputFile(path: string, kind: FileOutputKind, data: string | Uint8Array, options: OutputOptions = {}): void {
  writeOutputSync(path, kind, (staging) => writeFileSync(staging, data), options);
}

/** Removes `path` if it is mnext's own output of `kind` (a stale recovery checkpoint); anything else stays. */
export function removeOwnOutput(path: string, kind: OutputKind): void {
  if (inspect(path, kind).state === 'own') rmSync(path, { recursive: true, force: true });
}

/**
 * A folder that did not exist: `path`, or `path-1`, `path-2`... if that name is taken (a training run's folder,
 * filled over time rather than staged). Never reuses an existing folder.
 */
export function createNewFolder(path: string): string {
  checkParent(path);
  mkdirSync(dirname(path), { recursive: true });
  for (let i = 0; ; i += 1) {
    const candidate = i === 0 ? path : `${path}-${i}`;
    try {
      mkdirSync(candidate);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
}

/** The first `length` bytes of a file (fewer if it is shorter): enough for a format's header. */
export function readHead(path: string, length: number): Uint8Array {
  return readRange(path, 0, length);
}

/** The last `length` bytes of a file (all of it if shorter): a zip's end record. */
export function readTail(path: string, length: number): Uint8Array {
  const size = statSync(path).size;
  return readRange(path, Math.max(0, size - length), Math.min(size, length));
}

function readRange(path: string, position: number, length: number): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const buffer = new Uint8Array(length);
    const read = readSync(fd, buffer, 0, length, position);
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/** The first line of a text file, without reading a large foreign file whole. */
export function readFirstLine(path: string, maxLength = 4096): string {
  return new TextDecoder().decode(readHead(path, maxLength)).split(/\r?\n/)[0];
}
