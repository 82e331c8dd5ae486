// The CLI defines only the command it runs, and the name table stays true to what each module defines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { commandsFor } from './main.ts';

const argv = (...args: string[]) => ['node', 'outrigger', ...args];

async function defined(loaders: ReturnType<typeof commandsFor>): Promise<string[]> {
  const program = new Command('outrigger');
  for (const load of loaders) (await load()).define(program);
  return program.commands.map((c) => c.name());
}

test('a named command loads that command module alone', async () => {
  assert.deepEqual(await defined(commandsFor(argv('proxy', '--role', 'sidecar'))), ['proxy']);
  assert.deepEqual(await defined(commandsFor(argv('proxy-host', '--spec', 'x'))), ['proxy-host']);
  assert.deepEqual(await defined(commandsFor(argv('tls-check'))), ['tls-check']);
});

test('help, no command or an unknown one loads every command, each module defining the name it is listed under', async () => {
  const all = await defined(commandsFor(argv()));
  assert.equal(all.length, 15);
  assert.deepEqual(await defined(commandsFor(argv('--help'))), all);
  assert.deepEqual(await defined(commandsFor(argv('help', 'up'))), all);
  assert.deepEqual(await defined(commandsFor(argv('prxy'))), all);
  assert.deepEqual(await defined(commandsFor(argv('toString'))), all);
  for (const name of all) assert.deepEqual(await defined(commandsFor(argv(name))), [name], `the module listed as ${name}`);
});
