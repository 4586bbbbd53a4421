import { spawn } from 'node:child_process';
import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_DEMO_PORT, startDemo } from '../index.js';
import { TFJS_QUANTIZATIONS, type TfjsQuantization } from '../formats/tfjs/weights.js';
import { addImgSize, addModelSourceOptions, examples } from './options.js';
import type { Output } from './output.js';

interface DemoCliOptions {
  model: string;
  port: number;
  images?: string;
  open: boolean;
  quantize?: TfjsQuantization;
  imgSize?: number;
  arch?: string;
  width?: number;
  numClasses?: number;
  tensorMultiplier?: number;
  useEma?: boolean;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`expected a port number 0-65535, got '${value}'`);
  return n;
}

function quantization(value: string): TfjsQuantization {
  if (!TFJS_QUANTIZATIONS.includes(value as TfjsQuantization)) throw new InvalidArgumentError(`expected one of ${TFJS_QUANTIZATIONS.join(', ')}, got '${value}'`);
  return value as TfjsQuantization;
}

/** Opens the page in the desktop's browser; where there is none, the printed URL is enough. */
function openInBrowser(url: string): void {
  const [command, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', url]] : ['xdg-open', [url]];
  const child = spawn(command, args, { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
}

/** Resolves on Ctrl-C or SIGTERM. */
function untilStopped(): Promise<void> {
  return new Promise((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function register(program: Command, output: Output): void {
  const command = program
    .command('demo')
    .description('serve a local page that classifies dropped, pasted or camera images with the model in the browser (TF.js: webgl, wasm, webgpu)')
    .requiredOption('--model <path>', 'TF.js graph-model folder, checkpoint dir, .pth or model name (converted to a temporary TF.js folder)')
    .option('--port <n>', 'port on 127.0.0.1 (0: any free port)', port, DEFAULT_DEMO_PORT)
    .option('--images <dir>', 'folder of images (sub-folders too) the page lists and serves as /images/<path> (?image=/images/<path> classifies one)')
    .option('--no-open', 'do not open the page in a browser')
    .option('--quantize <mode>', `weight compression when converting a checkpoint: ${TFJS_QUANTIZATIONS.join(' | ')}`, quantization);
  addImgSize(command, 'square input size when converting (default: the model\'s; .pth files: 224)');
  addModelSourceOptions(command, 'serve');
  command.addHelpText('after', examples(
    'mnext demo --model web_model',
    'mnext demo --model output/<run>/best --images data/fashion-mnist/val',
    'mnext demo --model model.pth --arch mobilenext --num-classes 10 --port 0 --no-open'));
  command.action(async (opts: DemoCliOptions) => {
    const demo = await startDemo(opts.model, {
      port: opts.port, images: opts.images, quantize: opts.quantize, inputSize: opts.imgSize,
      arch: opts.arch, width: opts.width, numClasses: opts.numClasses, tensorMultiplier: opts.tensorMultiplier, useEma: opts.useEma,
    });
    try {
      if (demo.conversion) output.err(`converted ${opts.model} to TF.js for the page (${(demo.conversion.bytes / 1024 / 1024).toFixed(2)} MiB, removed on exit)`);
      output.err(`serving ${demo.modelDir}; Ctrl-C stops`);
      output.out(demo.url);
      if (opts.open) openInBrowser(demo.url);
      await untilStopped();
    } finally {
      await demo.close();
    }
  });
}
