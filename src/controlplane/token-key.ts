// The bootstrap-token key kept beside the CA (`<ca-dir>/token-key`, 32 random bytes, mode 0600): a
// restarted control plane still honours the tokens it issued, and `outrigger token` can issue one for a
// proxy on another host without asking the running control plane.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, writeNewFile } from '../runtime/write-atomic.ts';

export class TokenKeyError extends Error {
  readonly code = 'TOKEN_KEY';
}

export function tokenKeyFile(caDir: string): string {
  return path.join(caDir, 'token-key');
}

/** Reads the key, or creates it when absent (`create`); a file of the wrong size is an error, not a new key. */
export function loadTokenKey(caDir: string, create: boolean): Uint8Array {
  const file = tokenKeyFile(caDir);
  if (!existsSync(file)) {
    if (!create) throw new TokenKeyError(`no token key in ${caDir}: start \`outrigger control-plane --ca-dir ${caDir}\` (or \`outrigger up\`) once to create it`);
    makePrivateDir(caDir);
    const key = randomBytes(32);
    // Written whole (and flushed) under a name of this process's own, then hard-linked into place, as
    // up.lock is: the link is atomic and refused when a key is there, so neither a crash nor a second
    // starter ever finds a key file that exists but is still empty or short, and a key another process
    // put there meanwhile is never overwritten: on EEXIST the winner's key is read below.
    const mine = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    writeNewFile(mine, key, { mode: 0o600 });
    try {
      linkSync(mine, file);
      return key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(mine, { force: true });
    }
  }
  const key = readFileSync(file);
  if (key.length !== 32) throw new TokenKeyError(`${file} holds ${key.length} bytes, not a 32-byte token key: remove it to make a new one (tokens issued with it stop working)`);
  return key;
}
