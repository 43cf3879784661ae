/** The test helper's persistent R session (r.ts): an R error fails the call with R's message, and each script runs in an environment of its own. */
import { runR } from './r';
test('an R error is reported with its message, and the session goes on', async () => {
  await expect(runR('out("a", 1); stop("boom here")')).rejects.toThrow(/boom here/);
  expect((await runR('out("b", 2)')).b).toEqual([2]);
  await expect(runR('x <- ')).rejects.toThrow(/R: /);
  // a script's variables and data frame are its own
  expect((await runR('y <- 5; out("y", y); out("n", nrow(d))', { v: [1, 2, 3] }))).toEqual({ y: [5], n: [3] });
  expect((await runR('out("c", exists("y")); out("n", nrow(d))'))).toEqual({ c: [0], n: [1] });
});
