/** A trivial worker-pool task for tests: proves a pool thread is free to run it. */
export default function echoTask(x: string): string {
  return `echo ${x}`;
}
