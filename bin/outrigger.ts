#!/usr/bin/env node
// The one `outrigger` binary: every command lives in src/cli/, one file each.
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv);
