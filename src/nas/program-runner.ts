import { toolFunctions, type Tools } from '../remote/command.js';
import { detached } from '../remote/detached.js';
import { programText, type Program, type ProgramOutcome, type TypedProgram } from '../remote/program.js';
import type { Readable } from 'node:stream';
import { lines, type Shell } from '../remote/shell.js';
import type { Progress } from '../report/progress.js';
import type { Executor, Job, Marker, ProgramResult, RunOptions } from '../ssh/exec.js';

/** Turns a program's progress markers into the log's progress lines and groups. */
export class MarkerRelay {
  private groupOpen = false;
  constructor(private readonly progress: Progress) {}

  readonly relay = (m: Marker): void => {
    const { progress } = this;
    switch (m.kind) {
      case 'step':
        progress.step(m.text);
        return;
      case 'ok':
        return progress.ok(m.text);
      case 'warn':
        return progress.warn(m.text);
      case 'fail':
        return progress.fail(m.text);
      case 'group':
        if (this.groupOpen) progress.platform.endGroup();
        progress.platform.startGroup(m.text);
        this.groupOpen = true;
        return;
      case 'endgroup':
        if (this.groupOpen) progress.platform.endGroup();
        this.groupOpen = false;
        return;
      default:
        return progress.detail(m.text);
    }
  };
}

/**
 * Runs programs on the NAS through the executor: in the foreground, or as a
 * detached phase (see remote/detached.ts) whose log the channel follows.
 * Programs see the tools the probe found as `nr_docker`, `nr_compose`, `nr_git`,
 * and the exit codes they use as `NR_EXIT_…` (a detached phase gets its own copy).
 */
export class ProgramRunner {
  constructor(
    private readonly exec: Executor,
    private readonly relay: MarkerRelay,
    private readonly stateDir: string,
    /** Goes in front of the NAS's PATH in every program (remote-path). */
    private readonly remotePath: string,
  ) {}

  /** A program as the executor takes it: its text, with this run's marker and PATH. */
  job(program: Program): Job {
    const text = programText({ path: this.remotePath, marker: this.exec.marker, script: program.script });
    return { title: program.title, text, timeout: program.timeout, ...(program.quiet ? { quiet: true } : {}) };
  }

  /** Runs a program as it is (the first one: its tools are the probing functions), relaying its markers. */
  plain(program: Program, options: Omit<RunOptions, 'onMarker'> = {}): Promise<ProgramResult> {
    return this.exec.run(this.job(program), { onMarker: this.relay.relay, ...options });
  }

  async foreground<T>(program: TypedProgram<T>, tools: Tools): Promise<ProgramOutcome<T>> {
    return decoded(program, await this.send(program, lines(toolFunctions(tools), program.script)));
  }

  async detached<T>(program: TypedProgram<T>, tools: Tools, script: Shell): Promise<ProgramOutcome<T>> {
    return decoded(program, await this.send(program, detached(this.stateDir, lines(toolFunctions(tools), script))));
  }

  /** A foreground program fed `input` on its standard input (see Executor.runWithInput). */
  async streamed<T>(program: TypedProgram<T>, tools: Tools, input: Readable): Promise<ProgramOutcome<T>> {
    const job = this.job({ ...program, script: lines(toolFunctions(tools), program.script) });
    return decoded(
      program,
      await this.exec.runWithInput(job, input, { onMarker: this.relay.relay, allowFailure: true }),
    );
  }

  private send(program: TypedProgram<unknown>, script: Shell): Promise<ProgramResult> {
    return this.plain({ ...program, script }, { allowFailure: true });
  }
}

function decoded<T>(program: TypedProgram<T>, result: ProgramResult): ProgramOutcome<T> {
  return { code: result.code, values: program.decode(result.values), tail: result.tail, timedOut: result.timedOut };
}
