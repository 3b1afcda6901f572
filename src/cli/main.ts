#!/usr/bin/env node
/** The `tsbond` command. */

import { Command, CommanderError } from 'commander';

import { clientCommand } from './client-cmd.js';
import { demoCommand } from './demo.js';
import { serverCommand } from './server-cmd.js';
import { VERSION } from '../version.js';

const program = new Command('tsbond')
  .description(
    'MetalBond route distribution: server, client and demo (interoperable with Go MetalBond and rustbond)',
  )
  .version(VERSION)
  .showHelpAfterError()
  .exitOverride();
program.addCommand(serverCommand());
program.addCommand(clientCommand());
program.addCommand(demoCommand());
for (const c of program.commands) c.exitOverride().showHelpAfterError();

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // --help and --version exit 0; usage errors exit 2 (commander already printed the line).
    process.exit(e.exitCode === 0 ? 0 : 2);
  }
  throw e;
}
