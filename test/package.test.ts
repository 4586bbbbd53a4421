import assert from 'node:assert/strict';
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

/**
 * What a user gets: the tarball `npm pack` makes, installed into an empty project, used from the shell (npx) and
 * from TypeScript. One pack and one install, shared by every test below.
 */

const ROOT = resolve(import.meta.dirname, '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const MAX_TARBALL_BYTES = 2 * 1024 * 1024;
/** A trained checkpoint (87.65 % Fashion-MNIST top-1, test/formats/tflite/fixtures/README.md) and test image 2 of
 * Fashion-MNIST, a trouser it scores at p > 0.9999. */
const CHECKPOINT = join(ROOT, 'test/formats/tflite/fixtures/fashion_mobilenext_035_k2');
const TROUSER_PNG = join(ROOT, 'test/fixtures/fashion-mnist-trouser.png');

/** The runtimes mnext lists as optional peer dependencies, which `npm install mnext` leaves out. */
const OPTIONAL_PACKAGES = ['onnxruntime-node', '@litertjs/core', '@tensorflow/tfjs-node'];
/** An import of one of them in a declaration file (`from '…'` or `import('…')`). */
const OPTIONAL_IMPORT = new RegExp(`(from |import\\()'(${OPTIONAL_PACKAGES.join('|')})'`);

/** The environment less what `npm test` sets to describe this repository as the project (npm's cache settings stay). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(npm_package_|npm_lifecycle_|npm_config_local_prefix$|INIT_CWD$)/.test(name)));

interface PackResult {
  filename: string;
  size: number;
  entryCount: number;
  files: { path: string }[];
}

let work: string;
let app: string;
let pack: PackResult;
/** Whether the installed package had its addon right after `npm ci`, before any test ran its build script. */
let addonBuiltByInstall: boolean;

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = ENV): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
}

function checked(result: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  assert.equal(result.status, 0, `${what} failed:\n${result.stderr}${result.error ?? ''}`);
  return result;
}

/**
 * The project's lockfile: mnext from the tarball, every dependency at the version this repository's lockfile pins
 * (its dev-only packages left out). `npm ci --offline` then installs from the npm cache that `npm ci` filled,
 * needing no registry metadata: the same tree `npm install mnext` resolves, without the network.
 */
function consumerLock(tarball: string): object {
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, object> = {
    '': { name: 'consumer', dependencies: { mnext: tarball } },
    'node_modules/mnext': {
      version: manifest.version, resolved: tarball, license: manifest.license, hasInstallScript: 'install' in (manifest.scripts as object), bin: manifest.bin, engines: manifest.engines,
      dependencies: manifest.dependencies, peerDependencies: manifest.peerDependencies, peerDependenciesMeta: manifest.peerDependenciesMeta,
    },
  };
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    if (path !== '' && !entry.dev) packages[path] = entry;
  }
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}

before(() => {
  work = mkdtempSync(join(tmpdir(), 'mnext-package-'));
  app = join(work, 'app');
  // npm pack runs `prepare`, so dist/ is compiled from the sources being tested.
  const packed = checked(run('npm', ['pack', '--json', '--pack-destination', work], ROOT), 'npm pack');
  [pack] = JSON.parse(packed.stdout) as PackResult[];
  const tarball = `file:../${pack.filename}`;
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { mnext: tarball } }));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(consumerLock(tarball)));
  checked(run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app), 'npm ci of the tarball');
  addonBuiltByInstall = existsSync(join(app, 'node_modules/mnext/dist/native/jpeg-crop.node'));
});

after(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

test(`the tarball holds what a user runs, no tests and no prebuilt addon, in under ${MAX_TARBALL_BYTES / 2 ** 20} MB`, () => {
  const paths = pack.files.map((file) => file.path);
  assert.ok(pack.size < MAX_TARBALL_BYTES, `tarball is ${pack.size} bytes`);
  for (const path of ['package.json', 'README.md', 'LICENSE', 'bin/mnext.js', 'dist/src/index.js', 'dist/src/cli/main.js', 'configs/quickstart.yaml',
    'src/data/native/build.mjs', 'src/data/native/jpeg-crop.c', 'docs/performance.md', 'python/mnext_torch/__init__.py']) {
    assert.ok(paths.includes(path), `${path} is in the tarball`);
  }
  assert.deepEqual(paths.filter((path) => path.startsWith('test/') || path.endsWith('.node') || path.endsWith('.map')), []);
});

test('the install leaves out the optional runtimes, and running an ONNX model then names the package to install', () => {
  for (const name of OPTIONAL_PACKAGES) assert.ok(!existsSync(join(app, 'node_modules', name)), `${name} was installed`);
  const result = run('npx', ['mnext', 'convert', '--model', 'mobilenext_035', '--to', 'onnx', '--out', 'model.onnx'], app);
  assert.equal(result.status, 2, result.stderr);
  assert.equal(result.stderr.trim(), 'error: running ONNX models needs onnxruntime-node, which is not installed; install it with `npm install onnxruntime-node`');
  assert.ok(!existsSync(join(app, 'model.onnx')));
});

test('the install builds the JPEG addon when this machine can, and its build script never fails', () => {
  const script = join(app, 'node_modules/mnext/src/data/native/build.mjs');
  const rebuilt = checked(run(process.execPath, [script], app), 'build.mjs');
  assert.equal(addonBuiltByInstall, /^built /m.test(rebuilt.stderr), `npm ci built the addon: ${addonBuiltByInstall}; build.mjs says: ${rebuilt.stderr}`);
  if (addonBuiltByInstall) {
    const addon = createRequire(import.meta.url)(join(app, 'node_modules/mnext/dist/native/jpeg-crop.node')) as { cropResize?: unknown };
    assert.equal(typeof addon.cropResize, 'function');
  }
  const noCompiler = checked(run(process.execPath, [script], app, { ...ENV, CC: join(work, 'no-such-cc') }), 'build.mjs without a compiler');
  assert.match(noCompiler.stderr, /^mnext: not building the native JPEG decoder \(no C compiler .*\); images will be decoded with sharp\.$/m);
});

test('npx mnext --version prints the version and nothing else', () => {
  const result = checked(run('npx', ['mnext', '--version'], app), 'npx mnext --version');
  assert.equal(result.stdout, `${VERSION}\n`);
  assert.equal(result.stderr, '');
});

test('npx mnext profile --no-latency --width 0.75 prints the width table', () => {
  const result = checked(run('npx', ['mnext', 'profile', '--no-latency', '--width', '0.75'], app), 'npx mnext profile');
  assert.match(result.stdout, /^mobilenext\s+0\.75\s+2\.766\s+207\.93\s/m);
  assert.match(result.stdout, /^mobilenetv2\s+0\.75\s+2\.636\s+209\.07\s/m);
  assert.doesNotMatch(result.stderr, /npm warn/i);
});

const CONSUMER = `import { type Classification, createModel, loadModel } from 'mnext';

const [checkpoint, image] = process.argv.slice(2);
const fresh = await createModel('mobilenext_035', { numClasses: 10, inputSize: 64 });
const created = { inputSize: fresh.inputSize, classes: fresh.classes.length };
fresh.dispose();
const model = await loadModel(checkpoint);
const top: Classification[] = await model.classify(image, { topK: 3 });
model.dispose();
console.log(JSON.stringify({ created, top }));
`;

test('a TypeScript consumer compiles against the installed types, creates a model, loads a checkpoint and classifies a PNG', () => {
  writeFileSync(join(app, 'consumer.ts'), CONSUMER);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out',
      // tfjs's own declarations need skipLibCheck (tfjs-core's Long, tfjs-layers' index signatures), as here.
      skipLibCheck: true,
      // Node's types from this repository: the consumer installs nothing but mnext.
      typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'],
    },
    files: ['consumer.ts'],
  }));
  const compiled = run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--listFiles'], app);
  assert.equal(compiled.status, 0, `tsc:\n${compiled.stdout}${compiled.stderr}`);
  // skipLibCheck would also hide a public type that names an optional package the user has not installed.
  const mnextTypes = compiled.stdout.split('\n').filter((path) => path.includes('/node_modules/mnext/') && path.endsWith('.d.ts'));
  assert.ok(mnextTypes.some((path) => path.endsWith('/dist/src/index.d.ts')), compiled.stdout);
  assert.deepEqual(mnextTypes.filter((path) => OPTIONAL_IMPORT.test(readFileSync(path, 'utf8'))), []);
  const result = checked(run(process.execPath, ['out/consumer.js', CHECKPOINT, TROUSER_PNG], app), 'the consumer');
  const { created, top } = JSON.parse(result.stdout) as { created: { inputSize: number; classes: number }; top: { label: string; index: number; probability: number }[] };
  assert.deepEqual(created, { inputSize: 64, classes: 10 });
  assert.equal(top.length, 3);
  assert.deepEqual(top[0] && { label: top[0].label, index: top[0].index }, { label: '1-trouser', index: 1 });
  assert.ok(top[0].probability > 0.99, `p(trouser) = ${top[0].probability}`);
  assert.ok(top[0].probability >= top[1].probability && top[1].probability >= top[2].probability);
});
