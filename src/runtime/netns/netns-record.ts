// `.outrigger/netns.json`: the id of a netns-mode mesh, written before anything is created, so that
// `outrigger down` can sweep what an `up` that died without tearing down left behind.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sweepMesh } from './pod-network.ts';

const fileOf = (stateDir: string) => path.join(stateDir, 'netns.json');

export function writeNetnsRecord(stateDir: string, id: string): void {
  writeFileSync(fileOf(stateDir), `${JSON.stringify({ id })}\n`, { mode: 0o600 });
}

export function removeNetnsRecord(stateDir: string): void {
  rmSync(fileOf(stateDir), { force: true });
}

/** Sweeps the recorded mesh, if any; returns its id. */
export async function sweepRecordedMesh(stateDir: string): Promise<string | undefined> {
  const file = fileOf(stateDir);
  if (!existsSync(file)) return undefined;
  const { id } = JSON.parse(readFileSync(file, 'utf8')) as { id?: unknown };
  if (typeof id !== 'string' || !/^[0-9a-z]{1,8}$/.test(id)) return undefined;
  await sweepMesh(id);
  removeNetnsRecord(stateDir);
  return id;
}
