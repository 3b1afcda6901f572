import { Command } from 'commander';
export function clientCommand(): Command {
  return new Command('client');
}
