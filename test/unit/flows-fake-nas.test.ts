import { describe, expect, it } from 'vitest';
import { commitOfTag, imagesState } from '../../src/programs/backend.js';
import { announcedSteps, fakeWorld } from '../support/fake-nas.js';

// The flows' tests lean on the fake NAS: it must refuse what a test did not script, so none passes by accident.
describe('FakeNas', () => {
  const questions = imagesState('scanium-backend', 'scanium-backend');
  const program = (nas: ReturnType<typeof fakeWorld>['nas']) => commitOfTag(nas.render, '/repo', '1111111');

  it('refuses a program the test did not script, naming it and what was scripted', async () => {
    const { nas } = fakeWorld();
    nas.answerState({ answers: { runningImage: '', inventory: [] } });
    nas.answer('Removing old images', { code: 0, values: { removed: [], kept: [] } });
    await nas.readState(questions);
    await expect(nas.runProgram(program(nas))).rejects.toThrow(
      'FakeNas: the flow ran "Finding the commit of the tag", which the test did not script (scripted and not yet run: "Removing old images")',
    );
  });

  it('answers each scripted outcome once, in order', async () => {
    const { nas } = fakeWorld();
    nas.answerState({ answers: { runningImage: '', inventory: [] } });
    nas.answer('Finding the commit of the tag', { code: 0, values: 'first' });
    nas.answer('Finding the commit of the tag', { code: 1, values: 'second' });
    await nas.readState(questions);
    expect((await nas.runProgram(program(nas))).values).toBe('first');
    expect((await nas.runProgram(program(nas))).code).toBe(1);
    await expect(nas.runProgram(program(nas))).rejects.toThrow(/did not script/);
    expect(nas.unused).toEqual([]);
  });

  it('refuses a program before the state was read, as the real NAS does', async () => {
    const { nas } = fakeWorld();
    nas.answer('Finding the commit of the tag', { code: 0, values: 'x' });
    await expect(nas.runProgram(program(nas))).rejects.toThrow(/ran before the NAS state was read/);
  });

  it('reads the steps a program announces from its text, quoted or bare', () => {
    expect(announcedSteps(`nr_say step 'It'\\''s here'\nnr_say step Bare; nr_say ok 'x'`)).toEqual([
      "It's here",
      'Bare',
    ]);
  });
});
