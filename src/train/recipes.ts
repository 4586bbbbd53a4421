import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { PACKAGE_ROOT } from '../util/package.js';

/** The recipes shipped with mnext (the paper's, the baseline's, Fashion-MNIST's, the quickstart). */
const RECIPES_DIR = join(PACKAGE_ROOT, 'configs');

/** Names of the bundled recipes (`configs/<name>.yaml`). */
export function listRecipes(): string[] {
  if (!existsSync(RECIPES_DIR)) return [];
  return readdirSync(RECIPES_DIR).filter((file) => file.endsWith('.yaml')).map((file) => file.slice(0, -'.yaml'.length)).sort();
}

/**
 * A `--config` value as a YAML file: the path itself when it exists (relative to the working directory), else the
 * bundled recipe of that name (`mnext_mbv2`, `mnext_mbv2.yaml` or `configs/mnext_mbv2.yaml`), so the recipes work
 * from any folder after a global install.
 */
export function findConfigFile(config: string): string {
  if (existsSync(config)) return config;
  const name = config.replace(/^(\.\/)?configs\//, '').replace(/\.ya?ml$/, '');
  const bundled = join(RECIPES_DIR, `${name}.yaml`);
  if (!/[/\\]/.test(name) && existsSync(bundled)) return bundled;
  throw new UsageError(`config file ${config} does not exist, and no bundled recipe has that name (bundled: ${listRecipes().join(', ')})`);
}
