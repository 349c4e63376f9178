#!/usr/bin/env node
/**
 * Runs a TypeScript file with tsx: `node scripts/run-ts.mjs <file.ts> [args...]`
 * is `node --import tsx <file.ts> [args...]`, with tsx resolved from this
 * repository whatever the working directory. Exits with the file's status.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

const [file, ...args] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/run-ts.mjs <file.ts> [args...]');
  process.exit(2);
}
const tsx = import.meta.resolve('tsx');
const child = spawn(process.execPath, ['--import', tsx, resolve(file), ...args], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('close', (code, signal) => process.exit(code ?? (signal ? 128 + 15 : 1)));
