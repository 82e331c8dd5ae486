// `logs -f`: what a log file gains after it was printed, written out as it grows, as `kubectl logs -f`
// streams a container's log. Looks at the file on an interval (no watcher to lose events on a rewritten
// file); a file cut shorter, or another file at its name, is followed again from its start.
import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { StringDecoder } from 'node:string_decoder';

export interface FollowOptions {
  /** Ends the follow (Ctrl-C). */
  signal: AbortSignal;
  /** Between two looks at the file's size; tests inject a short one. */
  intervalMs?: number;
  /** Checked on each look: false ends the follow once what was written is out, as kubectl's ends with its container. */
  running?: () => boolean;
  /** The identity (`fileIdentity`) of the file the first `from` bytes were read from: another file there now is read from its start. */
  identity?: string;
}

/** A file's identity: its device, inode and birth (a file made again at once may get the inode the deleted one had). */
export function fileIdentity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.birthtimeMs}`;
}

const READ_CHUNK = 64 * 1024;

/** Writes `file` from byte `from` on, and whatever is appended to it, until the signal aborts or `running` says no. */
export async function followLog(file: string, from: number, write: (text: string) => void, opts: FollowOptions): Promise<void> {
  const interval = opts.intervalMs ?? 250;
  // A character split across two reads is written once whole.
  let decoder = new StringDecoder('utf8');
  let offset = from;
  /** The file being followed (device, inode, birth): another file at the path is followed from its start. */
  let identity: string | undefined = opts.identity;
  const buffer = Buffer.allocUnsafe(READ_CHUNK);
  const drain = (): void => {
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return; // removed for now (a restart rewrites it): the next look may find it again
    }
    try {
      const st = fstatSync(fd);
      const id = fileIdentity(st);
      // Replaced (renamed over, deleted and created again) or cut shorter (rewritten): from its start,
      // as tail -F follows a name.
      if ((identity !== undefined && id !== identity) || st.size < offset) {
        offset = 0;
        decoder = new StringDecoder('utf8');
      }
      identity = id;
      const end = st.size;
      while (offset < end) {
        const n = readSync(fd, buffer, 0, Math.min(READ_CHUNK, end - offset), offset);
        if (n === 0) break;
        offset += n;
        const text = decoder.write(buffer.subarray(0, n));
        if (text) write(text);
      }
    } finally {
      closeSync(fd);
    }
  };
  while (!opts.signal.aborted) {
    drain();
    if (opts.running && !opts.running()) return drain();
    try {
      await sleep(interval, undefined, { signal: opts.signal });
    } catch {
      return; // aborted: Ctrl-C
    }
  }
}
