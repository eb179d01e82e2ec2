#pragma once
// The signals the daemon handles (SIGTERM, SIGINT, SIGHUP, SIGCHLD), kept
// blocked across an in-place re-exec: the signal mask survives execve, so
// one that arrives while the new image has no handlers yet stays pending
// (instead of killing it by its default action, or being lost with the old
// image's signal pipe) and is delivered once the new image unblocks them.
#include <signal.h>

namespace keelan {

sigset_t handledSignals();
// Blocks them in the calling thread; `previous` gets the mask it had.
void blockHandledSignals(sigset_t* previous);
void restoreSignalMask(const sigset_t& previous);
// Called once the loop's handlers for them are installed.
void unblockHandledSignals();
// Once a stop is under way: SIGTERM, SIGINT and SIGHUP are ignored (their
// loop handlers are gone and the default action would kill the daemon).
void ignoreTerminationSignals();

}  // namespace keelan
