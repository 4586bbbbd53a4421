import { Command, CommanderError } from 'commander';
import { exitCodeOf } from './errors.js';
import { type Output, colour, processOutput } from './output.js';

/** Each command module adds itself to the program; keep this list the single place commands are wired. */
export type CommandRegistrar = (program: Command, output: Output) => void;

async function loadCommands(): Promise<CommandRegistrar[]> {
  const modules = await Promise.all([
    import('./models.js'),
    import('./parity.js'),
    import('./profile.js'),
    import('./data.js'),
    import('./import.js'),
    import('./export.js'),
    import('./convert.js'),
    import('./eval.js'),
    import('./train.js'),
    import('./bench.js'),
  ]);
  return modules.map((m) => m.register);
}

export async function buildProgram(output: Output): Promise<Command> {
  const program = new Command('mnext')
    .description('Train, evaluate, profile and convert MobileNeXt / MobileNetV2 image classifiers')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) });
  for (const register of await loadCommands()) register(program, output);
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) });
  }
  return program;
}

/**
 * Runs the CLI and returns the exit code (never calls process.exit): 0 ok, 1 a check failed, 2 bad usage,
 * input or configuration, 130 interrupted. User errors print one sentence, not a stack trace.
 */
export async function execute(argv: readonly string[], output: Output = processOutput): Promise<number> {
  try {
    const program = await buildProgram(output);
    await program.parseAsync([...argv]);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return error.exitCode === 0 ? 0 : 2;
    }
    const code = exitCodeOf(error);
    if (code !== undefined) {
      output.err(`${colour.red('error:')} ${(error as Error).message}`);
      return code;
    }
    output.err(`${colour.red('internal error:')} ${(error as Error).stack ?? String(error)}`);
    return 1;
  }
}
