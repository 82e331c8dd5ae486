// Replacing a file so that no reader ever sees half of it: write a temporary file beside it, then
// rename it over. The temporary name is random (unique across processes and PID namespaces sharing a
// directory, and unguessable), and it is created afresh (O_CREAT|O_EXCL|O_NOFOLLOW): never a file or a
// symlink someone else put there, whose target or mode would be used. The rename replaces whatever
// has the final name, a symlink included, rather than writing through it. A failed write leaves no
// temporary file behind.
//
// Private directories (the state directory, its tokens and logs) are checked by `makePrivateDir`.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readlinkSync, renameSync, rmSync, type Stats, writeSync } from 'node:fs';
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
 * made 0700. Its ancestors are checked first, as OpenSSH's safe_path checks them (see `checkAncestors`):
 * one another user could rename the directory out of, or a symlink of theirs on the way, would let them
 * swap it after the check. On Windows, which has no such owner and mode, it is only made.
 */
export function makePrivateDir(dir: string): void {
  // Resolved: with a trailing slash the kernel would follow a symlink even under O_NOFOLLOW.
  const resolved = path.resolve(dir);
  if (process.platform !== 'win32') checkAncestors(dir, path.dirname(resolved));
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

/**
 * Walks `parent` from `/` down, following symlinks by hand (as realpath would), and refuses, naming it,
 * any directory on the way that is not owned by root or this user, or that is writable by its group or
 * others without the sticky bit (a sticky one, as /tmp, lets others create entries but not rename or
 * remove ours), and any symlink on the way owned by another user (its owner could point it elsewhere).
 * OpenSSH's safe_path walks the same way (without the sticky allowance), trusting root and the user
 * it acts for; so root run by `sudo` (netns mode) also trusts the user who ran it (SUDO_UID), whose
 * project directory holds `.outrigger/`: that user could act as root anyway. A part that does not
 * exist yet ends the walk: `mkdir` makes it, ours and 0700, inside a directory that passed.
 */
function checkAncestors(dir: string, parent: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) return;
  const sudoUid = uid === 0 && /^[0-9]+$/.test(process.env['SUDO_UID'] ?? '') ? Number(process.env['SUDO_UID']) : undefined;
  const trusted = (owner: number) => owner === 0 || owner === uid || owner === sudoUid;
  const refuse = (at: string, why: string) =>
    new PrivateDirError(dir, `${dir} cannot be kept private: ${at} ${why}, so that user could swap what is written under it; give --dir a directory whose every parent is root's or yours and not writable by others (or fix ${at})`);
  const checkDir = (at: string, st: Stats) => {
    if (!trusted(st.uid)) throw refuse(at, `belongs to uid ${st.uid}, neither root nor this user (uid ${uid})`);
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
      throw refuse(at, `is writable by ${(st.mode & 0o022) === 0o022 ? 'its group and others' : st.mode & 0o020 ? 'its group' : 'others'} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}) and not sticky`);
    }
  };
  let current = '/';
  checkDir(current, lstatSync(current));
  let parts = parent.split('/').filter((p) => p !== '' && p !== '.');
  let links = 0;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    if (part === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, part);
    const st = lstatOrUndefined(next);
    if (st === undefined) return;
    if (st.isSymbolicLink()) {
      if (!trusted(st.uid)) throw refuse(next, `is a symlink of uid ${st.uid}, neither root nor this user (uid ${uid})`);
      if (++links > 40) throw refuse(next, 'starts a chain of more than 40 symlinks');
      const target = readlinkSync(next);
      if (target.startsWith('/')) current = '/';
      parts = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...parts];
      continue;
    }
    if (!st.isDirectory()) return; // mkdir says ENOTDIR/EEXIST for it below
    checkDir(next, st);
    current = next;
  }
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
