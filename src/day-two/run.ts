import { PassThrough } from 'node:stream';
import { readConnection, type ConnectionInputs } from '../inputs/connection.js';
import { InputError, InputReader, PATTERNS, type RawInputs } from '../inputs/reader.js';
import { COMMANDS } from '../inputs/spec.js';
import type { Nas } from '../nas/nas.js';
import { SshNas } from '../nas/ssh-nas.js';
import { logsProgram, NO_CONTAINERS_EXIT, statusQuestions } from '../programs/day-two.js';
import type { StateQuestions } from '../remote/program.js';
import { sh } from '../remote/shell.js';
import { Progress } from '../report/progress.js';
import { DayTwoPlatform } from './platform.js';
import { historyText, historyView, jsonText, statusReport, statusText } from './views.js';

/** Nothing more to ask than what every state read asks (the probe, the history). */
const NOTHING: StateQuestions<undefined> = { script: () => sh`:`, decode: () => undefined };

/** Exit status: 0 done, 1 failed, 2 a flag's value is wrong. */
export type ExitStatus = 0 | 1 | 2;

interface Command<S> {
  settings(r: InputReader): S;
  run(settings: S & { conn: ConnectionInputs }, nas: Nas, out: DayTwoPlatform, ssh: SshNas): Promise<ExitStatus>;
}

/** A command with its settings read: what is left is to run it against the NAS. */
type Ready = (nas: Nas, out: DayTwoPlatform, ssh: SshNas) => Promise<ExitStatus>;

function prepare<S>(command: Command<S>, r: InputReader): { conn: ConnectionInputs; run: Ready } {
  const settings = { ...command.settings(r), conn: readConnection(r, { notify: false }) };
  return { conn: settings.conn, run: (nas, out, ssh) => command.run(settings, nas, out, ssh) };
}

function composeFileOf(r: InputReader): string {
  return r.relativePath('compose-file');
}

const status: Command<{ composeFile: string; json: boolean }> = {
  settings: (r) => ({ composeFile: composeFileOf(r), json: r.bool('json') }),
  async run(s, nas, out) {
    const state = await nas.readState(statusQuestions(s.conn.repoPath, s.composeFile));
    const report = statusReport({
      host: s.conn.host,
      repoPath: s.conn.repoPath,
      composeFile: s.composeFile,
      answers: state.answers,
      history: state.history,
      ...(state.inProgress ? { inProgress: state.inProgress } : {}),
    });
    out.print(s.json ? jsonText(report) : statusText(report));
    return 0;
  },
};

const history: Command<{ limit: number; json: boolean }> = {
  settings: (r) => ({ limit: r.int('limit', 1, 500), json: r.bool('json') }),
  async run(s, nas, out) {
    const state = await nas.readState(NOTHING);
    const rows = historyView(state.history, state.inProgress, s.limit);
    out.print(s.json ? jsonText(rows) : historyText(rows));
    return 0;
  },
};

const logs: Command<{ composeFile: string; service: string; tail: number; follow: boolean }> = {
  settings: (r) => ({
    composeFile: composeFileOf(r),
    service: r.matching('service', PATTERNS.name, 'a compose service name'),
    tail: r.int('tail', 0, 1_000_000),
    follow: r.bool('follow'),
  }),
  async run(s, nas, out, ssh) {
    await nas.readState(NOTHING);
    const program = logsProgram(nas.render, { repo: s.conn.repoPath, ...s });
    let code: number;
    if (!s.follow) code = (await nas.runProgram(program)).code;
    else {
      // The program's input stays open while it follows; Ctrl-C ends it, and the NAS ends the logs (see logsProgram).
      const input = new PassThrough();
      let stopping: NodeJS.Timeout | undefined;
      const stop = (): void => {
        if (stopping) return void ssh.close();
        out.info('Stopping...');
        input.end();
        // a NAS that does not answer is let go of
        stopping = setTimeout(() => ssh.close(), 5000);
        stopping.unref();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        code = (await nas.streamProgram(program, input)).code;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        clearTimeout(stopping);
      }
    }
    if (code === NO_CONTAINERS_EXIT) {
      out.setFailed(
        `No container ${s.service ? `of service ${s.service} ` : ''}of ${s.composeFile} exists on the NAS (none of its compose projects has one).`,
      );
      return 1;
    }
    if (code !== 0) {
      out.setFailed(`compose logs ended with exit code ${code}`);
      return 1;
    }
    return 0;
  },
};

const PREPARE: Record<string, (r: InputReader) => { conn: ConnectionInputs; run: Ready }> = {
  status: (r) => prepare(status, r),
  history: (r) => prepare(history, r),
  logs: (r) => prepare(logs, r),
};

/**
 * Runs a day-two command: its flags become settings first (a wrong one fails
 * before anything connects), then it reads the NAS without the release lock
 * and writes nothing there (no history line either).
 */
export async function runCommand(name: string, raw: RawInputs): Promise<ExitStatus> {
  const prepareCommand = PREPARE[name];
  if (!prepareCommand) throw new Error(`unknown command ${name}`);
  const spec = COMMANDS[name];
  const json = 'json' in spec.inputs && /^true$/i.test(raw('json') ?? '');
  const platform = new DayTwoPlatform(json);
  for (const [input, i] of Object.entries(spec.inputs)) {
    const value = raw(input);
    if (i.secret && value && value.trim()) platform.setSecret(value.trim());
  }
  let command: { conn: ConnectionInputs; run: Ready };
  try {
    command = prepareCommand(new InputReader(name, raw));
  } catch (err) {
    if (!(err instanceof InputError)) throw err;
    platform.setFailed(err.message);
    return 2;
  }
  const progress = new Progress(platform);
  const nas = new SshNas(command.conn, { action: name, stack: 'backend', locking: false }, progress);
  try {
    return await nas.operate((n) => command.run(n, platform, nas));
  } catch (err) {
    platform.setFailed((err as Error).message);
    return 1;
  }
}
