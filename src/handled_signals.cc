#include "keelan/handled_signals.h"

#include <pthread.h>

#include <initializer_list>

namespace keelan {

sigset_t handledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&set, signal);
  return set;
}

void blockHandledSignals(sigset_t* previous) {
  sigset_t set = handledSignals();
  pthread_sigmask(SIG_BLOCK, &set, previous);
}

void restoreSignalMask(const sigset_t& previous) { pthread_sigmask(SIG_SETMASK, &previous, nullptr); }

void unblockHandledSignals() {
  sigset_t set = handledSignals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void ignoreTerminationSignals() {
  for (int signal : {SIGTERM, SIGINT, SIGHUP}) ::signal(signal, SIG_IGN);
}

}  // namespace keelan
