#!/usr/bin/env node
// `node bin/outrigger.ts` still works: the binary is bin/outrigger.mjs, plain JavaScript, so that it
// need not load Node's TypeScript parser (see there). Running this file loads the parser for this file only.
import './outrigger.mjs';
