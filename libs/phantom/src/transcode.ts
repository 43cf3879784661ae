import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Target encodings for test/benchmark variants. All are lossless except none; each maps to one Debian tool. */
export type CompressedSyntax = 'jpeg-ls' | 'rle' | 'jpeg-lossless' | 'jpeg2000' | 'deflate' | 'big-endian' | 'implicit';

export const TRANSFER_SYNTAXES: Record<CompressedSyntax, { uid: string; tool: string; args: string[]; pkg: string }> = {
  // JPEG-LS lossless (1.2.840.10008.1.2.4.80)
  'jpeg-ls': { uid: '1.2.840.10008.1.2.4.80', tool: 'dcmcjpls', args: ['--encode-lossless'], pkg: 'dcmtk' },
  // RLE lossless (1.2.840.10008.1.2.5)
  rle: { uid: '1.2.840.10008.1.2.5', tool: 'dcmcrle', args: [], pkg: 'dcmtk' },
  // JPEG lossless, first-order prediction, process 14 SV1 (1.2.840.10008.1.2.4.70)
  'jpeg-lossless': { uid: '1.2.840.10008.1.2.4.70', tool: 'dcmcjpeg', args: ['--encode-lossless-sv1'], pkg: 'dcmtk' },
  // JPEG 2000 lossless only (1.2.840.10008.1.2.4.90); gdcmconv --j2k is reversible unless a quality/rate is given
  jpeg2000: { uid: '1.2.840.10008.1.2.4.90', tool: 'gdcmconv', args: ['--j2k'], pkg: 'libgdcm-tools' },
  // Deflated explicit VR little endian (1.2.840.10008.1.2.1.99)
  deflate: { uid: '1.2.840.10008.1.2.1.99', tool: 'dcmconv', args: ['+td'], pkg: 'dcmtk' },
  // Explicit VR big endian (retired, 1.2.840.10008.1.2.2)
  'big-endian': { uid: '1.2.840.10008.1.2.2', tool: 'dcmconv', args: ['+tb'], pkg: 'dcmtk' },
  // Implicit VR little endian (1.2.840.10008.1.2)
  implicit: { uid: '1.2.840.10008.1.2', tool: 'dcmconv', args: ['+ti'], pkg: 'dcmtk' },
};

/**
 * Re-encodes DICOM files with a Debian command-line tool (tests and benchmarks only: never on the
 * ingest path). Writes `<outDir>/<path relative to baseDir>` (default: beside the input with a
 * `.<syntax>.dcm` suffix) and returns the new paths in input order. Runs at most `concurrency` tools
 * at once (default 2). Throws an Error naming the tool and its Debian package if it is missing, and
 * the tool's stderr if it fails.
 */
export async function transcode(
  files: (string | { path: string })[],
  syntax: CompressedSyntax,
  opts: { outDir?: string; baseDir?: string; concurrency?: number } = {},
): Promise<string[]> {
  const spec = TRANSFER_SYNTAXES[syntax];
  if (!spec) throw new Error(`transcode: unknown syntax '${String(syntax)}'; expected one of ${Object.keys(TRANSFER_SYNTAXES).join(', ')}`);
  const paths = files.map((f) => (typeof f === 'string' ? f : f.path));
  const out = paths.map((p) => {
    if (!opts.outDir) return p.replace(/(\.dcm)?$/i, `.${syntax}.dcm`);
    const rel = opts.baseDir ? relative(opts.baseDir, p) : basename(p);
    return join(opts.outDir, rel);
  });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const i = next++;
      mkdirSync(dirname(out[i]), { recursive: true });
      try {
        await run(spec.tool, [...spec.args, paths[i], out[i]], { maxBuffer: 16 << 20 });
      } catch (e) {
        const err = e as NodeJS.ErrnoException & { stderr?: string };
        if (err.code === 'ENOENT') {
          throw new Error(`transcode: '${spec.tool}' not found on PATH; install the Debian package '${spec.pkg}' (needed for ${syntax})`);
        }
        throw new Error(`transcode: ${spec.tool} failed on ${paths[i]} (${syntax}): ${(err.stderr ?? err.message).trim()}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker));
  return out;
}
