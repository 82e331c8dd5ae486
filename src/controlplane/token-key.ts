// The bootstrap-token key kept beside the CA (`<ca-dir>/token-key`, 32 random bytes, mode 0600): a
// restarted control plane still honours the tokens it issued, and `outrigger token` can issue one for a
// proxy on another host without asking the running control plane.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { makePrivateDir } from '../runtime/write-atomic.ts';
import path from 'node:path';

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
    // 'wx': never overwrite a key another process wrote meanwhile.
    try {
      writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
      return key;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = readFileSync(file);
  if (key.length !== 32) throw new TokenKeyError(`${file} holds ${key.length} bytes, not a 32-byte token key: remove it to make a new one (tokens issued with it stop working)`);
  return key;
}
