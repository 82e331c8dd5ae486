// Options that name a file or directory, checked before they are used: a typo is one line naming the
// flag and the path (`--token-file api.tokn: no such file or directory`), never a stack or a bare ENOENT.
import { accessSync, constants, statSync } from 'node:fs';

export class PathArgError extends Error {
  readonly code = 'PATH_ARG';
}

const reasons: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ELOOP: 'too many symbolic links',
};

/** A file system error in words: `no such file or directory` for ENOENT, else its message. */
export function fsReason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return (typeof code === 'string' ? reasons[code] : undefined) ?? (err as Error).message;
}

/** Throws unless `file` is a file this process can read. */
export function requireReadableFile(file: string, flag: string): void {
  try {
    if (statSync(file).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new PathArgError(`${flag} ${file}: ${fsReason(err)}`);
  }
}

/** Throws unless each path exists, file or directory (`-` is stdin). */
export function requireExistingPaths(paths: readonly string[], flag: string): void {
  for (const p of paths) {
    if (p === '-') continue;
    try {
      statSync(p);
    } catch (err) {
      throw new PathArgError(`${flag} ${p}: ${fsReason(err)}`);
    }
  }
}

/** Throws when `dir` exists and is not a directory; an absent one is fine (the command makes it). */
export function requireDirectoryIfPresent(dir: string, flag: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return;
    throw new PathArgError(`${flag} ${dir}: ${fsReason(err)}`);
  }
  if (!isDir) throw new PathArgError(`${flag} ${dir}: not a directory`);
}
