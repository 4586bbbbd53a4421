#!/usr/bin/env node
// Builds the JPEG crop decoder (jpeg-crop.c) into dist/native/jpeg-crop.node with the system C compiler,
// libjpeg-turbo (Debian: libjpeg-dev) and the Node-API headers installed with Node itself: no node-gyp, nothing
// downloaded. It is the package's `install` script, so every install builds the addon for the machine it runs
// on; plain JS, since nothing is compiled yet then. It never fails: without a compiler or the headers, or on any
// other error, it says why and exits 0, and the data loader decodes every image with sharp, which is slower but
// gives the same crops.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const source = join(here, 'jpeg-crop.c');
const output = join(root, 'dist/native/jpeg-crop.node');

/** Folders holding node_api.h: next to this node binary (official builds), then the distribution's. */
function nodeIncludeDir() {
  const candidates = [resolve(dirname(process.execPath), '../include/node'), '/usr/include/node', '/usr/local/include/node'];
  return candidates.find((dir) => existsSync(join(dir, 'node_api.h')));
}

function build() {
  const include = nodeIncludeDir();
  if (include === undefined) return skip('node_api.h not found (install Node.js headers)');
  const compiler = process.env.CC ?? 'cc';
  mkdirSync(dirname(output), { recursive: true });
  const partial = `${output}.${process.pid}.tmp`;
  try {
    execFileSync(compiler, ['-O3', '-shared', '-fPIC', '-fvisibility=hidden', `-I${include}`, source, '-ljpeg', '-lm', '-o', partial], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    rmSync(partial, { force: true });
    const detail = error.code === 'ENOENT' ? `no C compiler (${compiler})` : firstLine(String(error.stderr ?? error.message));
    return skip(`${detail}; libjpeg-dev and a C compiler are needed`);
  }
  renameSync(partial, output);
  console.error(`built ${output}`);
}

function firstLine(text) {
  return text.split('\n').find((line) => line.trim() !== '') ?? text;
}

function skip(reason) {
  console.error(`mnext: not building the native JPEG decoder (${reason}); images will be decoded with sharp.`);
}

try {
  build();
} catch (error) {
  skip(firstLine(String(error.message)));
}
