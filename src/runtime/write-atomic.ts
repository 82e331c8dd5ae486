// Replacing a file so that no reader ever sees half of it: write a temporary file beside it, then
// rename it over. The temporary name is unique across processes (and PID namespaces sharing a
// directory), and a failed write leaves no temporary file behind.
import { randomUUID } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

export function writeFileAtomic(file: string, data: string | Buffer, options: { mode?: number } = {}): void {
  const tmp = `${file}.${randomUUID()}.tmp`;
  try {
    writeFileSync(tmp, data, options.mode === undefined ? {} : { mode: options.mode });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
