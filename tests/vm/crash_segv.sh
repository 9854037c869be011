#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# crash_kill.sh with SIGSEGV instead of SIGKILL (the worker's fault handler
# runs, as for a real fault), 20 s of workload by default. Any crash_kill.sh
# option may follow and overrides these (e.g. --seconds 60).
# usage: crash_segv.sh [--bin PATH] [crash_kill.sh options]
exec bash "$(dirname "$0")/crash_kill.sh" --signal SEGV --seconds 20 "$@"
