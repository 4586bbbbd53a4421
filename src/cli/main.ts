import { Command, CommanderError } from 'commander';
import { exitCodeOf } from '../errors.js';
import { MNEXT_VERSION } from '../util/package.js';
import { examples } from './options.js';
import { type Output, colour, processOutput } from './output.js';

/** Each command module adds itself to the program; keep this list the single place commands are wired. */
export type CommandRegistrar = (program: Command, output: Output) => void;

async function loadCommands(): Promise<CommandRegistrar[]> {
  const modules = await Promise.all([
    import('./models.js'),
    import('./parity.js'),
    import('./parity-train.js'),
    import('./profile.js'),
    import('./data.js'),
    import('./import.js'),
    import('./export.js'),
    import('./convert.js'),
    import('./demo.js'),
    import('./eval.js'),
    import('./train.js'),
    import('./bench.js'),
  ]);
  return modules.map((m) => m.register);
}

export async function buildProgram(output: Output): Promise<Command> {
  const program = new Command('mnext')
    .description('Train, evaluate, profile and convert MobileNeXt / MobileNetV2 image classifiers')
    .version(MNEXT_VERSION)
    .addHelpText('after', examples(
      'mnext train --config quickstart',
      'mnext eval --model output/<run>/best --data data/synthetic/val',
      'mnext convert --model output/<run>/best --to tflite --out model.tflite'))
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) });
  for (const register of await loadCommands()) register(program, output);
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) });
  }
  readableDefaults(program);
  return program;
}

/** --help shows defaults as a user types them (`mse`, `1.4,1`), not as JSON (`"mse"`, `[1.4,1]`). */
function readableDefaults(command: Command): void {
  for (const option of command.options) {
    const value: unknown = option.defaultValue;
    if (option.defaultValueDescription !== undefined) continue;
    if (typeof value === 'string') option.defaultValueDescription = value;
    if (Array.isArray(value)) option.defaultValueDescription = value.length === 0 ? 'none' : value.join(',');
  }
  for (const sub of command.commands) readableDefaults(sub);
}

/** A bug in mnext rather than bad input: distinct from 1 (a check failed) so scripts can tell them apart. */
export const INTERNAL_ERROR_EXIT_CODE = 3;

/**
 * Runs the CLI and returns the exit code (never calls process.exit): 0 ok, 1 a check failed, 2 bad usage,
 * input or configuration, 3 an internal error, 130 interrupted. User errors print one sentence, not a stack trace.
 */
export async function execute(argv: readonly string[], output: Output = processOutput): Promise<number> {
  try {
    const program = await buildProgram(output);
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    return reportError(error, output);
  }
}

/** Prints what a command threw (one line) and returns its exit code: the error's own, or 3 for a bug in mnext. */
export function reportError(error: unknown, output: Output): number {
  if (error instanceof CommanderError) {
    if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
    return error.exitCode === 0 ? 0 : 2;
  }
  const code = exitCodeOf(error);
  if (code !== undefined) {
    output.err(`${colour.red('error:')} ${(error as Error).message}`);
    return code;
  }
  // A bug in mnext, not the user's input: one line, the stack only on request.
  const detail = process.env.MNEXT_DEBUG === '1' ? ((error as Error).stack ?? String(error)) : error instanceof Error ? error.message : String(error);
  output.err(`${colour.red('internal error:')} ${detail}${process.env.MNEXT_DEBUG === '1' ? '' : ' (MNEXT_DEBUG=1 shows the stack)'}`);
  return INTERNAL_ERROR_EXIT_CODE;
}
