// Replacing a file so that no reader ever sees half of it: write a temporary file beside it, then
// rename it over. The temporary name is random (unique across processes and PID namespaces sharing a
// directory, and unguessable), and it is created afresh (O_CREAT|O_EXCL|O_NOFOLLOW): never a file or a
// symlink someone else put there, whose target or mode would be used. The rename replaces whatever
// has the final name, a symlink included, rather than writing through it. A failed write leaves no
// temporary file behind.
//
// Private directories (the state directory, its tokens and logs) are checked by `makePrivateDir`.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, type Stats, writeSync } from 'node:fs';
import path from 'node:path';

export interface WriteOptions {
  /** The new file's mode (0600 for a secret); the umask still applies. */
  mode?: number;
  /** Flush the data to disk before the rename, so a crash leaves the old file or the whole new one. Default: when `mode` is given (keys, tokens, state). */
  fsync?: boolean;
}

/** O_NOFOLLOW where the platform has it (not Windows); O_EXCL refuses an existing symlink anyway. */
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0);

export function writeFileAtomic(file: string, data: string | Buffer, options: WriteOptions = {}): void {
  const tmp = `${file}.${randomBytes(12).toString('hex')}.tmp`;
  writeNewFile(tmp, data, options);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Creates `file`, which must not exist (EEXIST otherwise, a symlink included: never written through),
 * and writes all of `data` to it; a failed write removes it again. For a name of this process's own
 * that is then renamed or linked into place (writeFileAtomic, up.lock).
 */
export function writeNewFile(file: string, data: string | Buffer, options: WriteOptions = {}): void {
  const fd = openSync(file, CREATE_NEW, options.mode ?? 0o666);
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    if (options.fsync ?? options.mode !== undefined) fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(file, { force: true });
    throw err;
  }
  closeSync(fd);
}

/** A directory that does not pass `makePrivateDir`'s checks. */
export class PrivateDirError extends Error {
  readonly code = 'PRIVATE_DIR';
  readonly path: string;
  constructor(dir: string, message: string) {
    super(message);
    this.path = dir;
  }
}

/**
 * Makes `dir` (and its parents) if absent, mode 0700, and checks the directory that is there, since
 * `mkdir` leaves an existing one as it is: refused if it is a symlink (it could point anywhere), owned
 * by another user, or writable by group or others (someone else could have put files or symlinks in
 * it, or could swap them later). Otherwise one of ours with a looser mode (0755 from an older run) is
 * made 0700. On Windows, which has no such owner and mode, it is only made.
 */
export function makePrivateDir(dir: string): void {
  // Resolved: with a trailing slash the kernel would follow a symlink even under O_NOFOLLOW.
  const resolved = path.resolve(dir);
  const symlink = () => new PrivateDirError(dir, `${dir} is a symlink; it must be a directory of its own, private to this user: remove the link (or give --dir another directory)`);
  try {
    mkdirSync(resolved, { recursive: true, mode: 0o700 });
  } catch (err) {
    // A dangling symlink (ENOENT) or a file by that name (EEXIST): said as such below.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' && code !== 'ENOENT') throw err;
    if (lstatOrUndefined(resolved)?.isSymbolicLink()) throw symlink();
    if (code === 'ENOENT') throw err;
  }
  if (process.platform === 'win32') return;
  // Opened without following a symlink, then checked and tightened through the descriptor: nothing
  // swapped in between.
  let fd: number;
  try {
    fd = openSync(resolved, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || lstatOrUndefined(resolved)?.isSymbolicLink()) throw symlink();
    if (code === 'ENOTDIR') throw new PrivateDirError(dir, `${dir} is not a directory: remove it (or give --dir another directory)`);
    throw err;
  }
  try {
    const st = fstatSync(fd);
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) {
      throw new PrivateDirError(dir, `${dir} belongs to uid ${st.uid}, not to this user (uid ${uid}): that user could replace what is written in it; remove it, or \`chown -R ${uid} ${dir}\` (or give --dir another directory)`);
    }
    if ((st.mode & 0o022) !== 0) {
      const who = (st.mode & 0o022) === 0o022 ? 'its group and others' : st.mode & 0o020 ? 'its group' : 'others';
      throw new PrivateDirError(dir, `${dir} is writable by ${who} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): someone else may have put files or symlinks in it; remove it so it is made afresh, mode 0700 (or \`chmod 700 ${dir}\` once you have checked what is in it)`);
    }
    if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
