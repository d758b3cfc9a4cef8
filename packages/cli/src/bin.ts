#!/usr/bin/env node
import { run } from './index.js';

// A failed write on stdout or stderr (a full disk, a closed descriptor, a reader that went away) is
// reported by the write that saw it: `run` ends with one line on stderr and exit 7 (ERR_OUTPUT).
// The stream's 'error' event must not also become an uncaught exception with a stack trace.
let outputFailed = false;
const onStreamError = () => {
  outputFailed = true;
};
process.stdout.on('error', onStreamError);
process.stderr.on('error', onStreamError);

// Ctrl-C (or SIGTERM) cancels the running key-store operation, which then ends with
// ERR_KEYSTORE_CANCELLED and exit code 130; a second Ctrl-C ends the process at once.
const interrupt = new AbortController();
const onSignal = (name: NodeJS.Signals) => {
  interrupt.abort(new Error(`interrupted by ${name}`));
  process.once(name, () => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const code = await run(process.argv.slice(2), { signal: interrupt.signal });
// Output lost after the command had its answer (a write nobody awaited) still makes the run fail.
process.exitCode = code === 0 && outputFailed ? 7 : code;
