import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { InputError } from '../errors.js';

/**
 * ImageNet-style datasets: `<root>/train|val|validation/<class>/...`, a single folder of class folders, or a
 * CSV/text list of `path,label`. Class names sort like torchvision's ImageFolder (`sorted()` on the names, i.e.
 * code-point order) so label indices agree with PyTorch models trained on the same folders.
 */

export interface ImageSample {
  path: string;
  label: number;
}

export interface ImageDataset {
  root: string;
  classes: string[];
  samples: ImageSample[];
}

export type Split = 'train' | 'val';

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff'];

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());
}

/** Python's sorted() on str: compares code points (JS's default sort compares UTF-16 units). */
export function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const ca = ia.next();
    const cb = ib.next();
    if (ca.done || cb.done) return ca.done && cb.done ? 0 : ca.done ? -1 : 1;
    const diff = (ca.value.codePointAt(0) ?? 0) - (cb.value.codePointAt(0) ?? 0);
    if (diff !== 0) return diff;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Sub-folder names (symlinks followed) in torchvision order. */
export function listClassFolders(root: string): string[] {
  return readdirSync(root).filter((name) => !name.startsWith('.') && isDirectory(join(root, name))).sort(compareCodePoints);
}

/**
 * Image files under a class folder, recursively like torchvision's os.walk(followlinks=True), each real directory
 * visited once so symlink loops end. Files are sorted per directory; sub-directories in sorted order.
 */
export function listImageFiles(dir: string, visited: Set<string> = new Set()): string[] {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return [];
  }
  if (visited.has(real)) return [];
  visited.add(real);
  const names = readdirSync(dir).sort(compareCodePoints);
  const files: string[] = [];
  const subdirs: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if (isDirectory(path)) subdirs.push(path);
    else if (isImageFile(name)) files.push(path);
  }
  for (const sub of subdirs) files.push(...listImageFiles(sub, visited));
  return files;
}

/** A folder of class folders -> dataset; one error naming every empty class. */
export function scanClassFolders(root: string): ImageDataset {
  const classes = listClassFolders(root);
  if (classes.length === 0) throw new InputError(`${root} has no class folders (expected ${root}/<class>/<image files>).`);
  const samples: ImageSample[] = [];
  const empty: string[] = [];
  classes.forEach((name, label) => {
    const files = listImageFiles(join(root, name));
    if (files.length === 0) empty.push(name);
    for (const path of files) samples.push({ path, label });
  });
  if (empty.length > 0) {
    throw new InputError(`${empty.length} class folder(s) in ${root} hold no images (${IMAGE_EXTENSIONS.join(' ')}): ${empty.join(', ')}.`);
  }
  return { root, classes, samples };
}

function splitFolder(root: string, split: Split): string | undefined {
  const names = split === 'train' ? ['train'] : ['val', 'validation'];
  return names.map((n) => join(root, n)).find(isDirectory);
}

function hasSplitFolders(root: string): boolean {
  return splitFolder(root, 'train') !== undefined || splitFolder(root, 'val') !== undefined;
}

/**
 * Opens `path` as a dataset. With a split, a root holding train/ or val/ must have that split; a root without
 * either is read as one folder of class folders. A file is read as a `path,label` list.
 */
export function openDataset(path: string, split?: Split): ImageDataset {
  const root = resolve(path);
  if (!existsSync(root)) throw new InputError(`dataset ${path} does not exist.`);
  if (isFile(root)) return readListFile(root);
  if (!isDirectory(root)) throw new InputError(`dataset ${path} is neither a folder nor a list file.`);
  if (!hasSplitFolders(root)) return scanClassFolders(root);
  const folder = splitFolder(root, split ?? 'train');
  if (folder === undefined) {
    const expected = split === 'val' ? 'val/ (or validation/)' : 'train/';
    throw new InputError(`${path} has no ${expected} folder; expected ${root}/${split === 'val' ? 'val' : 'train'}/<class>/<image files>.`);
  }
  return scanClassFolders(folder);
}

/** Every val class must exist in train, or label indices would silently disagree. */
export function checkSplitClasses(train: ImageDataset, val: ImageDataset): void {
  const known = new Set(train.classes);
  const missing = val.classes.filter((c) => !known.has(c));
  if (missing.length > 0) {
    const shown = missing.slice(0, 10).join(', ') + (missing.length > 10 ? `, ... (${missing.length} in all)` : '');
    throw new InputError(`validation classes missing from the training set ${train.root}: ${shown}.`);
  }
  if (val.classes.length !== train.classes.length || val.classes.some((c, i) => train.classes[i] !== c)) {
    remapLabels(val, train.classes);
  }
}

/** Re-number a val set that lacks some train classes so its labels index the train class list. */
function remapLabels(val: ImageDataset, trainClasses: string[]): void {
  const index = new Map(trainClasses.map((c, i) => [c, i]));
  const mapping = val.classes.map((c) => index.get(c) ?? -1);
  for (const sample of val.samples) sample.label = mapping[sample.label];
  val.classes = [...trainClasses];
}

/**
 * `path,label` per line (comma, tab or whitespace separated), paths relative to the list's folder, optional
 * header. Labels are integers (class names from a classes.txt beside the list, else "0".."n-1") or class names.
 */
export function readListFile(file: string): ImageDataset {
  const base = dirname(file);
  const rows = readFileSync(file, 'utf8').split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
  const parsed = rows.map((line, i) => {
    const match = /^(.*?)\s*[,\t ]\s*([^,\t ]+)$/.exec(line);
    if (match === null) throw new InputError(`${file} line ${i + 1}: expected "path,label", got "${line}".`);
    return { path: match[1].replace(/^"|"$/g, ''), label: match[2].replace(/^"|"$/g, '') };
  });
  if (parsed.length > 0 && parsed[0].path.toLowerCase() === 'path' && !/^\d+$/.test(parsed[0].label)) parsed.shift();
  if (parsed.length === 0) throw new InputError(`${file} lists no images.`);
  const numeric = parsed.every((row) => /^\d+$/.test(row.label));
  const classes = numeric ? numericClassNames(base, parsed.map((r) => Number(r.label))) : [...new Set(parsed.map((r) => r.label))].sort(compareCodePoints);
  const index = new Map(classes.map((c, i) => [c, i]));
  const samples = parsed.map((row) => ({
    path: isAbsolute(row.path) ? row.path : join(base, row.path),
    label: numeric ? Number(row.label) : (index.get(row.label) ?? -1),
  }));
  return { root: file, classes, samples };
}

function numericClassNames(base: string, labels: number[]): string[] {
  const count = Math.max(...labels) + 1;
  const classesFile = join(base, 'classes.txt');
  if (isFile(classesFile)) {
    const names = readFileSync(classesFile, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
    if (names.length < count) throw new InputError(`${classesFile} names ${names.length} classes but the list uses label ${count - 1}.`);
    return names;
  }
  return Array.from({ length: count }, (_, i) => String(i));
}
