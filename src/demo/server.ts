import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { IMAGE_EXTENSIONS } from '../data/index.js';
import { ensureBackend } from '../backend/index.js';
import { type ConvertModelOptions, type ConvertReport, convert } from '../convert/index.js';
import type { TfjsQuantization } from '../formats/tfjs/weights.js';
import { isTfjsGraphModelDir, loadTfjsGraphRunner } from '../runtimes/tfjs.js';
import { MNEXT_VERSION, PACKAGE_ROOT } from '../util/package.js';

/**
 * `mnext demo`: a local static server (node:http, no build step) for one page that classifies images with a
 * TF.js graph model in the browser. Everything the page loads comes from this package: its own files
 * (src/demo/page), the model folder, and tfjs' browser bundles and wasm binaries from its dependencies, so the
 * page works offline. A model that is not a TF.js folder is converted into a temporary one first.
 */

/** The page's own files. */
const PAGE_DIR = join(PACKAGE_ROOT, 'src', 'demo', 'page');
const PAGE_FILES = ['index.html', 'app.js', 'preprocess.js', 'style.css'];
/**
 * Modules of mnext itself the page imports, compiled (dist/ is in the package and built by `npm ci`), so the
 * page resamples with the very code `mnext eval` runs: /mnext/<name>.
 */
const MNEXT_MODULES = new Map([['resample.js', join(PACKAGE_ROOT, 'dist', 'src', 'data', 'resample.js')]]);

/** tfjs' browser bundles (UMD, extending one global `tf`) and the wasm backend's binaries, by package. */
const TFJS_FILES: Record<string, readonly string[]> = {
  '@tensorflow/tfjs-core': ['tf-core.min.js'],
  '@tensorflow/tfjs-backend-cpu': ['tf-backend-cpu.min.js'],
  '@tensorflow/tfjs-backend-webgl': ['tf-backend-webgl.min.js'],
  '@tensorflow/tfjs-backend-webgpu': ['tf-backend-webgpu.min.js'],
  '@tensorflow/tfjs-backend-wasm': ['tf-backend-wasm.min.js', 'tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'],
  '@tensorflow/tfjs-converter': ['tf-converter.min.js'],
};

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.md': 'text/markdown; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

export const DEFAULT_DEMO_PORT = 8080;

export interface DemoOptions extends Omit<ConvertModelOptions, 'target' | 'out' | 'quantize' | 'force'> {
  /** TCP port on 127.0.0.1 (default 8080; 0 picks a free one). */
  readonly port?: number;
  /** Folder whose images the page lists and serves under /images/. */
  readonly images?: string;
  /** Weight compression when a checkpoint or .pth is converted for the page. */
  readonly quantize?: TfjsQuantization;
}

export interface DemoServer {
  /** The page, e.g. http://127.0.0.1:8080/. */
  readonly url: string;
  /** The TF.js folder served (a temporary conversion when the model was not one). */
  readonly modelDir: string;
  /** The conversion's report when the model was converted for the page. */
  readonly conversion?: ConvertReport;
  /** Stops serving and removes the temporary conversion, if any; safe to call twice. */
  close(): Promise<void>;
}

/** The browser files from the package's dependencies, by the name the page requests (/tfjs/<name>). */
function tfjsAssets(): Map<string, string> {
  const require = createRequire(join(PACKAGE_ROOT, 'package.json'));
  const assets = new Map<string, string>();
  for (const [pkg, files] of Object.entries(TFJS_FILES)) {
    const dist = join(resolve(require.resolve(`${pkg}/package.json`), '..'), 'dist');
    for (const file of files) assets.set(file, join(dist, file));
  }
  return assets;
}

/** Images the page's gallery shows at most (?image= serves any image under --images). */
const GALLERY_LIMIT = 40;

const isImageFile = (dir: string, name: string) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase()) && statSync(join(dir, name)).isFile();

/**
 * The gallery: images directly in `dir` and in its sub-folders (a val folder's classes), taken in turn from each
 * so every class shows, as paths relative to `dir`.
 */
function galleryImages(dir: string): string[] {
  const names = readdirSync(dir).sort();
  const groups = [
    names.filter((name) => isImageFile(dir, name)),
    ...names.filter((name) => statSync(join(dir, name)).isDirectory())
      .map((sub) => readdirSync(join(dir, sub)).sort().filter((name) => isImageFile(join(dir, sub), name)).map((name) => `${sub}/${name}`)),
  ];
  const picked: string[] = [];
  for (let i = 0; picked.length < GALLERY_LIMIT && groups.some((group) => i < group.length); i += 1) {
    for (const group of groups) if (i < group.length && picked.length < GALLERY_LIMIT) picked.push(group[i]);
  }
  return picked;
}

/** `name` inside `root`, or undefined when it would leave it (../, absolute paths) or is not a file. */
function fileInside(root: string, name: string): string | undefined {
  const path = resolve(root, name);
  const rel = relative(root, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return existsSync(path) && statSync(path).isFile() ? path : undefined;
}

function send(response: ServerResponse, status: number, body: string | Buffer, type: string): void {
  response.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
  response.end(body);
}

function sendFile(response: ServerResponse, path: string | undefined, method: string): void {
  if (path === undefined) {
    send(response, 404, 'not found', 'text/plain; charset=utf-8');
    return;
  }
  const body = readFileSync(path);
  response.writeHead(200, { 'Content-Type': CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
  response.end(method === 'HEAD' ? undefined : body);
}

interface Routes {
  readonly modelDir: string;
  readonly imagesDir?: string;
  readonly tfjs: Map<string, string>;
}

function handle(routes: Routes, request: IncomingMessage, response: ServerResponse): void {
  const method = request.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    send(response, 405, 'only GET and HEAD', 'text/plain; charset=utf-8');
    return;
  }
  const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
  if (path === '/') return sendFile(response, join(PAGE_DIR, 'index.html'), method);
  if (path === '/config.json') {
    const images = routes.imagesDir ? galleryImages(routes.imagesDir).map((path) => `/images/${path.split('/').map(encodeURIComponent).join('/')}`) : [];
    return send(response, 200, JSON.stringify({ model: '/model/model.json', images, mnextVersion: MNEXT_VERSION }), 'application/json');
  }
  const [, area, ...rest] = path.split('/');
  const name = rest.join('/');
  if (area === 'tfjs') return sendFile(response, routes.tfjs.get(name), method);
  if (area === 'mnext') return sendFile(response, MNEXT_MODULES.get(name), method);
  if (area === 'model') return sendFile(response, fileInside(routes.modelDir, name), method);
  if (area === 'images' && routes.imagesDir) return sendFile(response, fileInside(routes.imagesDir, name), method);
  if (rest.length === 0 && PAGE_FILES.includes(area)) return sendFile(response, join(PAGE_DIR, area), method);
  sendFile(response, undefined, method);
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new InputError(`--port ${port}: the port is in use (try another, or --port 0 for a free one)`));
      else if (error.code === 'EACCES') reject(new InputError(`--port ${port}: permission denied (ports below 1024 need privileges)`));
      else reject(error);
    });
    server.listen(port, '127.0.0.1', () => resolvePort((server.address() as { port: number }).port));
  });
}

/** The TF.js folder to serve: the model itself, or a conversion into `temp()`; the folder is checked by loading it. */
async function modelFolder(options: DemoOptions & { readonly model: string }, temp: () => string): Promise<{ dir: string; conversion?: ConvertReport }> {
  if (isTfjsGraphModelDir(options.model)) {
    const conversionOnly = options.quantize !== undefined ? '--quantize' : options.inputSize !== undefined ? '--img-size' : undefined;
    if (conversionOnly) throw new InputError(`${conversionOnly} applies when a checkpoint is converted for the page; ${options.model} is already a TF.js folder`);
    await ensureBackend(options.backend);
    const runner = await loadTfjsGraphRunner(options.model);
    await runner.dispose();
    return { dir: resolve(options.model) };
  }
  const out = join(temp(), 'model');
  const { model, port: _port, images: _images, ...convertOptions } = options;
  const conversion = await convert(model, { ...convertOptions, target: 'tfjs', out });
  return { dir: out, conversion };
}

/**
 * Starts the demo server for a TF.js folder, checkpoint, .pth or model name. Everything is checked before the
 * port is taken: a missing or unreadable model, or a missing --images folder, is an InputError, and so is a port
 * in use.
 */
export async function startDemo(model: string, options: DemoOptions = {}): Promise<DemoServer> {
  if (options.images !== undefined && !(existsSync(options.images) && statSync(options.images).isDirectory())) {
    throw new InputError(`--images: ${options.images} is not a folder`);
  }
  let tempDir: string | undefined;
  const removeTemp = () => {
    if (tempDir !== undefined) rmSync(tempDir, { recursive: true, force: true });
    tempDir = undefined;
  };
  try {
    const { dir, conversion } = await modelFolder({ ...options, model }, () => (tempDir = mkdtempSync(join(tmpdir(), 'mnext-demo-'))));
    const routes: Routes = { modelDir: dir, imagesDir: options.images && resolve(options.images), tfjs: tfjsAssets() };
    const server = createServer((request, response) => {
      try {
        handle(routes, request, response);
      } catch (error) {
        send(response, 500, (error as Error).message, 'text/plain; charset=utf-8');
      }
    });
    const port = await listen(server, options.port ?? DEFAULT_DEMO_PORT);
    let closed = false;
    return {
      url: `http://127.0.0.1:${port}/`,
      modelDir: dir,
      ...(conversion ? { conversion } : {}),
      close: async () => {
        if (closed) return;
        closed = true;
        server.closeAllConnections();
        await new Promise<void>((done) => server.close(() => done()));
        removeTemp();
      },
    };
  } catch (error) {
    removeTemp();
    throw error;
  }
}
