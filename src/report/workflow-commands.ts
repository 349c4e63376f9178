import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';

/**
 * The runner's side of GitHub Actions' workflow commands, as documented in
 * "Workflow commands for GitHub Actions": `::name::data` lines on stdout and
 * the GITHUB_OUTPUT, GITHUB_ENV and GITHUB_STEP_SUMMARY files. This is the
 * small part of @actions/core the actions use; importing that package (and
 * the HTTP client it loads at start-up) cost every run about 45 ms.
 */

/** Escapes a command's data: `%`, CR and LF. */
export function escapeData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escapes a command's property value: as data, and `:` and `,`. */
export function escapeProperty(value: string): string {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** One command line, `::name key=value,…::data`. */
export function commandLine(name: string, data: string, properties: Record<string, string> = {}): string {
  const props = Object.entries(properties)
    .map(([k, v]) => `${k}=${escapeProperty(v)}`)
    .join(',');
  return `::${name}${props ? ' ' + props : ''}::${escapeData(data)}`;
}

/**
 * A `name<<delimiter` block for a file command, with a random delimiter that
 * neither the name nor the value contains (a value cannot end the block early
 * and set something else).
 */
export function fileCommandBlock(name: string, value: string): string {
  const delimiter = `ghadelimiter_${randomUUID()}`;
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`unexpected delimiter in ${name}`);
  return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
}

/** Sets a step output, through GITHUB_OUTPUT (or the old stdout command without one). */
export function setOutput(name: string, value: string): void {
  const file = process.env.GITHUB_OUTPUT;
  if (file) appendFileSync(file, fileCommandBlock(name, value));
  else process.stdout.write(`\n${commandLine('set-output', value, { name })}\n`);
}

/** Sets a variable for this process and the job's later steps. */
export function exportVariable(name: string, value: string): void {
  process.env[name] = value;
  const file = process.env.GITHUB_ENV;
  if (file) appendFileSync(file, fileCommandBlock(name, value));
  else process.stdout.write(`${commandLine('set-env', value, { name })}\n`);
}

/** Appends Markdown to the job summary; nothing outside a runner. */
export function appendSummary(markdown: string): void {
  const file = process.env.GITHUB_STEP_SUMMARY;
  if (file) appendFileSync(file, markdown + '\n');
}
