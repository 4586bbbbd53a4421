import { type Command, Option } from 'commander';
import { DEFAULT_FASHION_MNIST_DIR, convertFashionMnist } from '../data/fashion-mnist.js';
import { type SplitReport, inspectDataset } from '../data/inspect.js';
import { generateSyntheticDataset } from '../data/synthetic.js';
import { CheckFailedError, UsageError } from '../errors.js';
import { FORCE_OPTION, aliasOf, examples, nonNegativeInt, nonNegativeNumber, positiveInt } from './options.js';
import { type Output, colour, formatTable, printJson } from './output.js';
import { type Progress, reportedProgress, startProgress } from './progress.js';

/** "64" -> 64x64, "500x375" -> 500 wide, 375 high. */
function parseImageSize(value: string): { width: number; height: number } {
  const match = /^(\d+)(?:x(\d+))?$/.exec(value.trim());
  const width = match === null ? NaN : Number(match[1]);
  const height = match?.[2] === undefined ? width : Number(match[2]);
  if (!(width > 0 && height > 0)) throw new UsageError(`--img-size: expected a positive integer or WIDTHxHEIGHT, got "${value}".`);
  return { width, height };
}

function registerFashionMnist(data: Command, output: Output): void {
  data
    .command('fashion-mnist')
    .description('convert Fashion-MNIST IDX files into a train/val PNG folder tree with the ten class names')
    .requiredOption('--out <dir>', 'output dataset folder (replaced atomically)')
    .option('--from <dir>', 'folder with the IDX files (plain or .gz)', DEFAULT_FASHION_MNIST_DIR)
    .option('--limit-train <n>', 'class-balanced first N training images', positiveInt)
    .option('--limit-val <n>', 'class-balanced first N validation images', positiveInt)
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('mnext data fashion-mnist --out data/fashion-mnist --limit-train 10000', 'mnext data fashion-mnist --out data/fmnist --from ~/fashion-mnist'))
    .action(async (opts: { out: string; from: string; limitTrain?: number; limitVal?: number; force?: boolean; json?: boolean }) => {
      const progress = reportedProgress({ label: 'fashion-mnist', unit: 'images', output });
      const counts = await convertFashionMnist(opts.from, opts.out, {
        limitTrain: opts.limitTrain, limitVal: opts.limitVal, force: opts.force, onProgress: progress.onProgress,
      }).finally(() => progress.stop());
      if (opts.json) return printJson(output, { out: opts.out, ...counts });
      output.out(`wrote ${counts.train} training and ${counts.val} validation images to ${opts.out}`);
    });
}

function registerSynthetic(data: Command, output: Output): void {
  const imgSize = new Option('--img-size <n|WxH>', 'image side, or WIDTHxHEIGHT').default('64');
  data
    .command('synthetic')
    .description('draw a small learnable colour dataset (shapes, colours, textures, noise) with train/ and val/')
    .requiredOption('--out <dir>', 'output dataset folder (replaced atomically)')
    .option('--classes <n>', 'number of classes', positiveInt, 10)
    .option('--per-class <n>', 'training images per class', positiveInt, 100)
    .addOption(imgSize)
    .addOption(aliasOf('--size', imgSize))
    .option('--val-fraction <f>', 'validation images per class as a fraction of --per-class', nonNegativeNumber, 0.2)
    .option('--seed <n>', 'random seed', nonNegativeInt, 0)
    .option('--format <png|jpeg>', 'image format', 'png')
    .option(...FORCE_OPTION)
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('mnext data synthetic --out data/synthetic', 'mnext data synthetic --out data/shapes --classes 5 --per-class 200 --img-size 96x64 --format jpeg'))
    .action(async (opts: { out: string; classes: number; perClass: number; imgSize: string; valFraction: number; seed: number; format: string; force?: boolean; json?: boolean }) => {
      if (opts.format !== 'png' && opts.format !== 'jpeg') throw new UsageError(`--format: expected png or jpeg, got "${opts.format}".`);
      const { width, height } = parseImageSize(opts.imgSize);
      const progress = reportedProgress({ label: 'synthetic', unit: 'images', output });
      const counts = await generateSyntheticDataset(opts.out, {
        classes: opts.classes, perClass: opts.perClass, size: width, width, height, seed: opts.seed,
        valFraction: opts.valFraction, format: opts.format, force: opts.force, onProgress: progress.onProgress,
      }).finally(() => progress.stop());
      if (counts.val === 0) {
        output.err(`${colour.yellow('warning:')} no validation images: ${opts.perClass} per class x --val-fraction ${opts.valFraction} rounds to 0, so ${opts.out} has no val/ (raise --per-class or --val-fraction)`);
      }
      if (opts.json) return printJson(output, { out: opts.out, ...counts });
      output.out(`wrote ${counts.train} training and ${counts.val} validation images (${opts.classes} classes, ${width}x${height}) to ${opts.out}`);
    });
}

function printReport(output: Output, report: SplitReport): void {
  output.out(`${colour.bold(report.split === 'all' ? report.root : `${report.split}: ${report.root}`)}`);
  output.out(`${report.images} images in ${report.classes.length} classes; formats ${Object.entries(report.formats).map(([f, n]) => `${f} ${n}`).join(', ') || '-'}`);
  if (report.width !== undefined && report.height !== undefined) {
    output.out(formatTable(['', 'min', 'median', 'mean', 'max'], [report.width, report.height].map((s, i) =>
      [i === 0 ? 'width' : 'height', String(s.min), String(s.median), s.mean.toFixed(1), String(s.max)])));
  }
  output.out(formatTable(['Class', 'Images'], report.classes.map((c) => [c.name, String(c.count)])));
  for (const failure of report.failures) output.out(`${colour.yellow('cannot decode')} ${failure.path}: ${failure.reason}`);
  output.out('');
}

function registerInspect(data: Command, output: Output): void {
  data
    .command('inspect <dir>')
    .description('class counts, image size stats and the files that fail to decode (exit 1 if any do)')
    .option('--workers <n>', 'decodes in flight', positiveInt, 4)
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('mnext data inspect data/fashion-mnist', 'mnext data inspect data/imagenet/val --workers 8 --json'))
    .action(async (dir: string, opts: { workers: number; json?: boolean }) => {
      let progress: { split: string; bar: Progress } | undefined;
      const reports = await inspectDataset(dir, {
        concurrency: opts.workers,
        onProgress: (split, done, total) => {
          if (progress?.split !== split) {
            progress?.bar.stop();
            progress = { split, bar: startProgress({ label: `inspect ${split}`, total, unit: 'images', output }) };
          }
          progress.bar.update(done);
        },
      }).finally(() => progress?.bar.stop());
      if (opts.json) printJson(output, reports);
      else for (const report of reports) printReport(output, report);
      const failures = reports.reduce((n, r) => n + r.failures.length, 0);
      if (failures > 0) throw new CheckFailedError(`${failures} file(s) in ${dir} cannot be decoded (listed above).`);
    });
}

export function register(program: Command, output: Output): void {
  const data = program.command('data').description('make and check datasets: fashion-mnist, synthetic, inspect');
  registerFashionMnist(data, output);
  registerSynthetic(data, output);
  registerInspect(data, output);
}
