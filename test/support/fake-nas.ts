import type { Readable } from 'node:stream';
import type { FlowContext } from '../../src/release/flow.js';
import type { Nas, NasState, Phase, RecordUpdate, StateQuestions } from '../../src/nas/nas.js';
import { MarkerRelay } from '../../src/nas/program-runner.js';
import { Renderer, bareTools } from '../../src/remote/command.js';
import type { HistoryRecord, Outcome } from '../../src/remote/history.js';
import type { NasFacts } from '../../src/remote/nas.js';
import type { ProgramOutcome, TypedProgram } from '../../src/remote/program.js';
import type { Platform } from '../../src/report/platform.js';
import { Progress } from '../../src/report/progress.js';
import { dumpRendered, renderedPhase, renderedProgram, renderedState, shellProblems } from './rendered.js';
import type { RunInfo } from '../../src/report/run-info.js';

/** A progress line a NAS program prints (`nr_say KIND TEXT`), relayed as the real runner relays it. */
export interface SaidMarker {
  kind: 'ok' | 'warn' | 'fail' | 'info' | 'group' | 'endgroup';
  text: string;
}

/** How a scripted program or phase ends: typed values, as its decoder would have returned them. */
export interface ScriptedOutcome<T> {
  code: number;
  values: T;
  tail?: string[];
  timedOut?: boolean;
  /**
   * How many of the steps the program announces (`nr_say step`, in the order
   * its text holds them) it reached before it ended; all of them by default.
   */
  steps?: number;
  /** Further lines it prints, after the steps it reached. */
  said?: SaidMarker[];
}

/** The answers of readState: the flow's typed answers and what the history holds. */
export interface ScriptedState<T> {
  answers: T;
  history?: HistoryRecord[];
  interrupted?: HistoryRecord;
  inProgress?: HistoryRecord;
}

/** What the flow asked of the NAS, in order. */
export type NasCall =
  | { kind: 'readState'; questions: StateQuestions<unknown> }
  | { kind: 'program'; title: string; program: TypedProgram<unknown> }
  | { kind: 'phase'; title: string; phase: Phase<unknown> }
  | { kind: 'stream'; title: string; program: TypedProgram<unknown>; bytes: number }
  | { kind: 'finish'; outcome: Outcome; update: RecordUpdate };

interface Scripted {
  title: string;
  outcome: ScriptedOutcome<unknown>;
  used: boolean;
}

export const FAKE_RUN: RunInfo = {
  id: '4242-1',
  actor: 'octocat',
  url: 'https://github.com/acme/shop/actions/runs/4242',
  started: '2026-03-02T09:00:00.000Z',
};

const FAKE_FACTS: NasFacts = { tools: bareTools, describe: ['System:  fake'] };

/** `nr_say step WORD` as the sh template renders it: one quoted or bare word. */
const STEP_MARKER = /nr_say step ('(?:[^']|'\\'')*'|[^\s;]+)/g;

/** The steps a program announces, in the order its text holds them. */
export function announcedSteps(script: string): string[] {
  return [...script.matchAll(STEP_MARKER)].map(([, word]) =>
    word.startsWith("'") ? word.slice(1, -1).replace(/'\\''/g, "'") : word,
  );
}

/**
 * An in-memory NAS for the flows' unit tests. It answers from a script the
 * test gives (the state, then each program or phase by title, in order) and
 * records what the flow asked. A program the test did not script is an error,
 * so a test cannot pass by running something it never looked at. The progress
 * lines a program would print (its steps and markers) go through the real
 * MarkerRelay, so the log the test sees numbers steps as the real one does.
 */
export class FakeNas implements Nas {
  readonly run = FAKE_RUN;
  readonly render: Renderer;
  readonly calls: NasCall[] = [];
  private readonly scripted: Scripted[] = [];
  private state?: ScriptedState<unknown> | Error;
  private readonly relay: MarkerRelay;

  constructor(
    progress: Progress,
    readonly dryRun = false,
  ) {
    this.render = new Renderer(bareTools, dryRun);
    this.relay = new MarkerRelay(progress);
  }

  /** The answers of readState, or the error it rejects with (a lock timeout, a missing tool). */
  answerState<T>(state: ScriptedState<T> | Error): this {
    this.state = state as ScriptedState<unknown> | Error;
    return this;
  }

  /** The outcome of the next program or phase with this title. */
  answer<T>(title: string, outcome: ScriptedOutcome<T>): this {
    this.scripted.push({ title, outcome: outcome as ScriptedOutcome<unknown>, used: false });
    return this;
  }

  async readState<T>(questions: StateQuestions<T>): Promise<NasState<T>> {
    this.calls.push({ kind: 'readState', questions: questions as StateQuestions<unknown> });
    // Render the questions as the real NAS would, so a question that cannot be rendered fails here too.
    questions.script(this.render);
    this.check('the first questions', renderedState(questions as StateQuestions<unknown>));
    const state = this.state;
    if (!state) throw new Error('FakeNas: the flow read the state, but the test gave no answerState');
    if (state instanceof Error) throw state;
    return {
      facts: FAKE_FACTS,
      history: state.history ?? [],
      ...(state.interrupted ? { interrupted: state.interrupted } : {}),
      ...(state.inProgress ? { inProgress: state.inProgress } : {}),
      answers: state.answers as T,
    };
  }

  async runProgram<T>(program: TypedProgram<T>): Promise<ProgramOutcome<T>> {
    this.calls.push({ kind: 'program', title: program.title, program: program as TypedProgram<unknown> });
    this.check(program.title, renderedProgram(program as TypedProgram<unknown>));
    return this.play(program);
  }

  /** Reads the whole stream (so its producer runs to the end, or fails), counting its bytes, then plays the scripted outcome. */
  async streamProgram<T>(program: TypedProgram<T>, input: Readable): Promise<ProgramOutcome<T>> {
    let bytes = 0;
    for await (const chunk of input) bytes += (chunk as Buffer).length;
    this.calls.push({ kind: 'stream', title: program.title, program: program as TypedProgram<unknown>, bytes });
    this.check(program.title, renderedProgram(program as TypedProgram<unknown>));
    return this.play(program);
  }

  async runPhase<T>(phase: Phase<T>): Promise<ProgramOutcome<T>> {
    this.calls.push({ kind: 'phase', title: phase.title, phase: phase as Phase<unknown> });
    this.check(phase.title, renderedPhase(phase as Phase<unknown>));
    return this.play(phase);
  }

  async finish(outcome: Outcome, update: RecordUpdate = {}): Promise<void> {
    this.calls.push({ kind: 'finish', outcome, update });
  }

  /**
   * Every program a flow sends is checked as the NAS would get it (see rendered.ts): it must parse with dash
   * and BusyBox sh and pass shellcheck, so each flow test checks the shell of the programs it drives.
   */
  private check(title: string, text: string): void {
    if (process.env.NR_DUMP_RENDERED) return dumpRendered(title, text);
    const problems = shellProblems(text, title);
    if (problems.length)
      throw new Error(`FakeNas: the program "${title}" is not clean POSIX sh:\n${problems.join('\n')}`);
  }

  private play<T>(program: TypedProgram<T>): ProgramOutcome<T> {
    if (!this.state || this.state instanceof Error)
      throw new Error(`FakeNas: "${program.title}" ran before the NAS state was read`);
    const next = this.scripted.find((s) => !s.used && s.title === program.title);
    if (!next) {
      const waiting = this.scripted.filter((s) => !s.used).map((s) => `"${s.title}"`);
      throw new Error(
        `FakeNas: the flow ran "${program.title}", which the test did not script (scripted and not yet run: ${waiting.join(', ') || 'none'})`,
      );
    }
    next.used = true;
    const outcome = next.outcome as ScriptedOutcome<T>;
    const steps = announcedSteps(program.script.text);
    for (const text of steps.slice(0, outcome.steps ?? steps.length)) this.relay.relay({ kind: 'step', text });
    for (const marker of outcome.said ?? []) this.relay.relay(marker);
    return {
      code: outcome.code,
      values: outcome.values,
      tail: outcome.tail ?? [],
      timedOut: outcome.timedOut ?? false,
    };
  }

  /** The titles of the programs and phases the flow ran, in order. */
  get ran(): string[] {
    return this.calls.flatMap((c) =>
      c.kind === 'program' || c.kind === 'phase' || c.kind === 'stream' ? [c.title] : [],
    );
  }

  /** The phases the flow ran. */
  get phases(): Phase<unknown>[] {
    return this.calls.flatMap((c) => (c.kind === 'phase' ? [c.phase] : []));
  }

  /** The program or phase the flow ran with this title (the first one). */
  program(title: string): TypedProgram<unknown> | undefined {
    for (const c of this.calls) {
      if (c.kind === 'program' && c.title === title) return c.program;
      if (c.kind === 'phase' && c.title === title) return c.phase;
    }
    return undefined;
  }

  /** Each finish(outcome, update) the flow called. */
  get finishes(): { outcome: Outcome; update: RecordUpdate }[] {
    return this.calls.flatMap((c) => (c.kind === 'finish' ? [{ outcome: c.outcome, update: c.update }] : []));
  }

  /** Scripted outcomes the flow never asked for. */
  get unused(): string[] {
    return this.scripted.filter((s) => !s.used).map((s) => s.title);
  }
}

/**
 * A Platform that keeps what a user would see: the log lines, warnings and
 * errors, the outputs and exported variables, the job summary.
 */
export class RecordingPlatform implements Platform {
  readonly lines: string[] = [];
  readonly warnings: string[] = [];
  readonly errors: string[] = [];
  readonly secrets: string[] = [];
  readonly outputs = new Map<string, string>();
  readonly exported = new Map<string, string>();
  readonly summary: string[] = [];
  failed?: string;

  info(line: string): void {
    this.lines.push(line);
  }
  remote(lines: readonly string[]): boolean {
    this.lines.push(...lines);
    return true;
  }
  drained(resume: () => void): void {
    resume();
  }
  warning(message: string): void {
    this.warnings.push(message);
  }
  error(message: string): void {
    this.errors.push(message);
  }
  startGroup(name: string): void {
    this.lines.push(`▸ ${name}`);
  }
  endGroup(): void {}
  setSecret(value: string): void {
    this.secrets.push(value);
  }
  setOutput(name: string, value: string): void {
    this.outputs.set(name, value);
  }
  exportVariable(name: string, value: string): void {
    this.exported.set(name, value);
  }
  async addSummary(markdown: string): Promise<void> {
    this.summary.push(markdown);
  }
  setFailed(message: string): void {
    this.failed = message;
    this.errors.push(message);
  }

  /** The log as one text. */
  get log(): string {
    return this.lines.join('\n');
  }

  /** The numbered step lines, `[n/N] text...`. */
  get steps(): { n: number; of: number; text: string }[] {
    return this.lines.flatMap((line) => {
      const m = /^\[(\d+)\/(\d+)\] (.*)\.\.\.$/.exec(line);
      return m ? [{ n: Number(m[1]), of: Number(m[2]), text: m[3] }] : [];
    });
  }
}

/** The deployment recorder's public shape, all a flow uses of it (the real one talks to the GitHub API). */
export interface DeploymentLike {
  start(inputs: { environment: string }, ref: string, description: string): Promise<void>;
  finish(ok: boolean, description: string): Promise<void>;
}

/** Records the GitHub deployment a flow would start. */
export class FakeDeployment implements DeploymentLike {
  readonly started: { environment: string; ref: string; description: string }[] = [];
  readonly finished: { ok: boolean; description: string }[] = [];
  async start(inputs: { environment: string }, ref: string, description: string): Promise<void> {
    if (inputs.environment) this.started.push({ environment: inputs.environment, ref, description });
  }
  async finish(ok: boolean, description: string): Promise<void> {
    this.finished.push({ ok, description });
  }
}

/** A platform, its progress, a fake NAS and a fake deployment, wired as runAction wires the real ones. */
export function fakeWorld(opts: { dryRun?: boolean } = {}): {
  platform: RecordingPlatform;
  progress: Progress;
  nas: FakeNas;
  deployment: FakeDeployment;
  context: FlowContext;
} {
  const platform = new RecordingPlatform();
  const progress = new Progress(platform);
  const nas = new FakeNas(progress, opts.dryRun ?? false);
  const deployment = new FakeDeployment();
  // The flows use only start and finish; DeploymentRecorder is a class with private state, hence the cast.
  const context = { progress, deployment: deployment as unknown as FlowContext['deployment'] };
  return { platform, progress, nas, deployment, context };
}
