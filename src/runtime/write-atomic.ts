// Replacing a file so that no reader ever sees half of it: write a temporary file beside it, then
// rename it over. The temporary name is random (unique across processes and PID namespaces sharing a
// directory, and unguessable), and it is created afresh (O_CREAT|O_EXCL|O_NOFOLLOW): never a file or a
// symlink someone else put there, whose target or mode would be used. The rename replaces whatever
// has the final name, a symlink included, rather than writing through it. A failed write leaves no
// temporary file behind.
//
// Private directories (the state directory, its tokens and logs) are checked by `makePrivateDir`.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, rmSync, type Stats, statSync, writeSync } from 'node:fs';
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
 * by another user, or writable by others or by a group that is not its owner's alone (someone else could
 * have put files or symlinks in it, or could swap them later; see `groupCheck`). Otherwise one of ours
 * with a looser mode (0755 from an older run, 0775 under umask 002) is made 0700. Its ancestors are
 * checked first, as OpenSSH's safe_path checks them (see `makeAncestors`), and a missing one is made
 * there and then, one at a time, and checked as it is found: one another user could rename the directory
 * out of, or a symlink of theirs on the way, would let them swap it after the check. On Windows, which
 * has no such owner and mode, it is only made.
 */
export function makePrivateDir(dir: string): void {
  // Resolved: with a trailing slash the kernel would follow a symlink even under O_NOFOLLOW.
  const resolved = path.resolve(dir);
  const uid = process.getuid?.();
  if (process.platform === 'win32' || uid === undefined) {
    mkdirSync(resolved, { recursive: true, mode: 0o700 });
    return;
  }
  const trust = trustOf(uid);
  makeAncestors(dir, path.dirname(resolved), trust);
  const symlink = () => new PrivateDirError(dir, `${dir} is a symlink; it must be a directory of its own, private to this user: remove the link (or give --dir another directory)`);
  try {
    // Not recursive: its parents were made, and checked, above.
    mkdirSync(resolved, { mode: 0o700 });
  } catch (err) {
    // A symlink (a dangling one included) or a file by that name (EEXIST): said as such below.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
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
    if (st.uid !== uid) {
      throw new PrivateDirError(dir, `${dir} belongs to uid ${st.uid}, not to this user (uid ${uid}): that user could replace what is written in it; remove it, or \`chown -R ${uid} ${dir}\` (or give --dir another directory)`);
    }
    const group = st.mode & 0o020 ? trust.groupCheck(st.gid, st.uid) : undefined;
    if ((st.mode & 0o002) !== 0 || group !== undefined) {
      const who = (st.mode & 0o022) === 0o022 ? 'its group and others' : st.mode & 0o020 ? 'its group' : 'others';
      throw new PrivateDirError(
        dir,
        `${dir} is writable by ${who} (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})${group === undefined ? '' : `, and ${group}`}: someone else may have put files or symlinks in it; remove it so it is made afresh, mode 0700 (or \`chmod 700 ${dir}\` once you have checked what is in it)`,
      );
    }
    // Ours, and writable by no one else (group-writable only by this user's own group): tightened.
    if ((st.mode & 0o077) !== 0) fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}

interface Trust {
  uid: number;
  /** Root, this user, and when root was run by `sudo`, the user who ran it (SUDO_UID). */
  owner(uid: number): boolean;
  /** Undefined when a directory of owner `ownerUid` and group `gid` may be writable by that group; otherwise why not. */
  groupCheck(gid: number, ownerUid: number): string | undefined;
}

/**
 * Whom the checks trust. OpenSSH's safe_path trusts root and the user it acts for; so root run by
 * `sudo` (netns mode) also trusts the user who ran it (SUDO_UID), whose project directory holds
 * `.outrigger/`. That is a trade-off, not a boundary: that user can rename root's state directory
 * away and put their own in its place (docs/local-mode.md).
 *
 * A directory writable by its group is trusted as Debian's OpenSSH does (secure_permissions, its
 * user-group-modes patch, for umask 002 with user private groups, the default of Fedora/RHEL and of
 * Ubuntu's pam_umask), and only then: the group has at least one member and every member is the
 * directory's owner (`groupWriteRefusal`). Here also only when the group is this process's primary
 * group (or, under `sudo`, SUDO_GID, the primary group of the SUDO_UID user): a supplementary group is
 * never trusted. Never on macOS, whose users share the primary group `staff`.
 */
function trustOf(uid: number): Trust {
  const sudo = uid === 0 && /^[0-9]+$/.test(process.env['SUDO_UID'] ?? '');
  const sudoUid = sudo ? Number(process.env['SUDO_UID']) : undefined;
  const sudoGid = sudo && /^[0-9]+$/.test(process.env['SUDO_GID'] ?? '') ? Number(process.env['SUDO_GID']) : undefined;
  const owner = (owner: number) => owner === 0 || owner === uid || owner === sudoUid;
  const own = new Set([process.getgid?.(), sudoGid].filter((g) => g !== undefined));
  return {
    uid,
    owner,
    groupCheck(gid, ownerUid) {
      if (process.platform === 'darwin') return `a group-writable directory is never trusted on macOS (gid ${gid})`;
      if (!own.has(gid)) return `gid ${gid} is not this user's own group (${[...own].join(' or ')})`;
      return groupWriteRefusal(gid, ownerUid);
    },
  };
}

/** The local account files read: /etc/passwd and /etc/group (tests put others in their place). */
export interface AccountFiles {
  passwd: string;
  group: string;
}

const ETC: AccountFiles = { passwd: '/etc/passwd', group: '/etc/group' };
let accountFiles: AccountFiles = ETC;

/** For tests: read these account files instead of /etc's (undefined: /etc's again). */
export function useAccountFiles(files: AccountFiles | undefined): void {
  accountFiles = files ?? ETC;
}

interface Accounts {
  /** uid → the first name /etc/passwd gives it. */
  nameOf: Map<number, string>;
  /** gid → the uids of the accounts whose primary group it is. */
  primary: Map<number, number[]>;
  /** gid → its member list (names), for each group /etc/group has. */
  members: Map<number, string[]>;
}

/**
 * The local account files, parsed, kept while neither file changes (same inode, size, mtime and ctime):
 * read once, not on every state write, yet a user added during a long `up` is seen.
 */
let accountsCache: { key: string; accounts: Accounts } | undefined;

function localAccounts(): Accounts {
  const files = accountFiles;
  const stamp = (file: string) => {
    try {
      const st = statSync(file, { bigint: true });
      return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    } catch {
      return '-';
    }
  };
  const key = `${files.passwd}\0${stamp(files.passwd)}\0${files.group}\0${stamp(files.group)}`;
  if (accountsCache?.key === key) return accountsCache.accounts;
  const records = (file: string) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return [];
    }
    // Comments, blank lines and NIS compat lines (+, -: accounts of a directory service, not here) are no accounts.
    return text
      .split('\n')
      .map((l) => l.replace(/\r$/, ''))
      .filter((l) => l.trim() !== '' && !/^\s*[#+-]/.test(l))
      .map((l) => l.split(':'));
  };
  const number = (s: string | undefined) => (s !== undefined && /^[0-9]+$/.test(s) ? Number(s) : undefined);
  const accounts: Accounts = { nameOf: new Map(), primary: new Map(), members: new Map() };
  for (const [name, , u, g] of records(files.passwd)) {
    const uid = number(u);
    const gid = number(g);
    if (!name || uid === undefined) continue;
    if (!accounts.nameOf.has(uid)) accounts.nameOf.set(uid, name);
    if (gid !== undefined) accounts.primary.set(gid, [...(accounts.primary.get(gid) ?? []), uid]);
  }
  for (const [name, , g, list] of records(files.group)) {
    const gid = number(g);
    if (!name || gid === undefined) continue;
    const names = (list ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    accounts.members.set(gid, [...(accounts.members.get(gid) ?? []), ...names]);
  }
  accountsCache = { key, accounts };
  return accounts;
}

/**
 * Debian OpenSSH's secure_permissions for a group-writable file or directory: acceptable only when its
 * group has at least one member and every member is its owner. The members are the users whose primary
 * group it is (/etc/passwd) and those /etc/group lists; root, or the user who ran `sudo`, is one like
 * any other, acceptable only as the owner. A group with no members is refused (Debian: zero-member
 * groups are setgid binaries' or a directory service's, as AD's "domain users"). Undefined when
 * acceptable, otherwise why not.
 *
 * Only the local account files are read: a group only a directory service (LDAP, sssd) knows, or whose
 * members it alone lists, has no members here and is refused; a local group that a directory service
 * also gives members to is judged on its local ones alone.
 */
export function groupWriteRefusal(gid: number, ownerUid: number): string | undefined {
  const accounts = localAccounts();
  const listed = accounts.members.get(gid);
  if (listed === undefined) return `its group (gid ${gid}) is not in ${accountFiles.group} (a directory service's group, whose members only it knows)`;
  const ownerName = accounts.nameOf.get(ownerUid);
  const primary = accounts.primary.get(gid) ?? [];
  if (primary.length === 0 && listed.length === 0) return `its group (gid ${gid}) has no members in the local account files (a directory service's group, whose members only it knows, or a system one)`;
  const otherPrimary = primary.find((u) => u !== ownerUid);
  if (otherPrimary !== undefined) return `its group (gid ${gid}) is not its owner's (uid ${ownerUid}) alone: user ${accounts.nameOf.get(otherPrimary) ?? otherPrimary} (uid ${otherPrimary}) is in it too`;
  const otherListed = listed.find((m) => m !== ownerName);
  if (otherListed !== undefined) return `its group (gid ${gid}) is not its owner's (uid ${ownerUid}) alone: user ${otherListed} is in it too`;
  return undefined;
}

/**
 * Walks `parent` from `/` down, following symlinks by hand (as realpath would), and refuses, naming it,
 * any directory on the way that is not owned by a trusted user (`trustOf`), or that is writable by others
 * or by a group not this user's own without the sticky bit (a sticky one, as /tmp, lets others create
 * entries but not rename or remove ours), and any symlink on the way owned by another user (its owner
 * could point it elsewhere). OpenSSH's safe_path walks the same way (without the sticky allowance). A
 * part that does not exist yet is made there, not recursive and mode 0700, inside a directory that
 * passed, and then checked like the others: if someone else made it first (or anything in between),
 * that is what is checked, and refused if it is theirs. Once a symlink has been followed, a missing
 * part is refused, never made: a dangling symlink (named as such) would otherwise have root make
 * directories wherever it points, and where a link leads is its owner's to say.
 */
function makeAncestors(dir: string, parent: string, trust: Trust): void {
  const { uid } = trust;
  const refuse = (at: string, why: string) =>
    new PrivateDirError(dir, `${dir} cannot be kept private: ${at} ${why}, so that user could swap what is written under it; give --dir a directory whose every parent is root's or yours and not writable by others (or fix ${at})`);
  const checkDir = (at: string, st: Stats) => {
    if (!trust.owner(st.uid)) throw refuse(at, `belongs to uid ${st.uid}, neither root nor this user (uid ${uid})`);
    if ((st.mode & 0o1000) !== 0) return;
    const group = st.mode & 0o020 ? trust.groupCheck(st.gid, st.uid) : undefined;
    if ((st.mode & 0o002) !== 0 || group !== undefined) {
      const who = (st.mode & 0o022) === 0o022 ? 'its group and others' : st.mode & 0o020 ? 'its group' : 'others';
      throw refuse(at, `is writable by ${who} (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}) and not sticky${group === undefined ? '' : `, and ${group}`}`);
    }
  };
  let current = '/';
  checkDir(current, lstatSync(current));
  let parts = parent.split('/').filter((p) => p !== '' && p !== '.');
  let links = 0;
  // The last symlink followed, and how many of the parts left are its target's: a part missing after it
  // is not made (where it would be made is the link's to say, and a dangling link's anywhere at all).
  let via: { link: string; target: string; left: number } | undefined;
  while (parts.length > 0) {
    const part = parts.shift() as string;
    const ofTarget = via !== undefined && via.left > 0;
    if (via !== undefined && via.left > 0) via.left--;
    if (part === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, part);
    let st = lstatOrUndefined(next);
    if (st === undefined && via !== undefined) {
      throw new PrivateDirError(
        dir,
        ofTarget
          ? `${dir} cannot be made: ${via.link} is a dangling symlink (to ${via.target}, and ${next} does not exist); its target is not made through it: make the target, or remove the link (or give --dir another directory)`
          : `${dir} cannot be made: ${next} does not exist and is reached through the symlink ${via.link} (to ${via.target}); nothing is made through a symlink: make it (or give --dir another directory)`,
      );
    }
    if (st === undefined) {
      try {
        mkdirSync(next, { mode: 0o700 });
      } catch (err) {
        // Someone else's, made since the lstat: checked below as it is.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      st = lstatSync(next);
    }
    if (st.isSymbolicLink()) {
      if (!trust.owner(st.uid)) throw refuse(next, `is a symlink of uid ${st.uid}, neither root nor this user (uid ${uid})`);
      if (++links > 40) throw refuse(next, 'starts a chain of more than 40 symlinks');
      const target = readlinkSync(next);
      if (target.startsWith('/')) current = '/';
      const targetParts = target.split('/').filter((p) => p !== '' && p !== '.');
      via = { link: next, target, left: targetParts.length };
      parts = [...targetParts, ...parts];
      continue;
    }
    if (!st.isDirectory()) throw new PrivateDirError(dir, `${dir} cannot be made: ${next} is not a directory (give --dir another directory)`);
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
