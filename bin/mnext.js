#!/usr/bin/env node
// Thin launcher: all behaviour lives in the library so every command is testable in-process.
import { execute } from '../dist/src/cli/main.js';

process.exitCode = await execute(process.argv);
