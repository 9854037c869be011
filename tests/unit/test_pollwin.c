/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * pollwin.c: the window grows on sleeps a longer spin would have caught,
 * halves on long sleeps, reaches 0 (no CPU) for an idle guest, never
 * exceeds the maximum, and stays 0 when polling is disabled.
 */
#include "../tap.h"
#include "pollwin.h"

int
main(void)
{
	struct pollwin p;

	pollwin_init(&p, POLLWIN_MAX_NS_DEF);
	is_int((int)pollwin_window(&p), 50000, "first window 50 us");
	pollwin_slept(&p, 30000);
	is_int((int)pollwin_window(&p), 100000, "short sleep: doubled");
	pollwin_slept(&p, 150000);
	is_int((int)pollwin_window(&p), 200000, "sleep under max: grows to max");
	pollwin_slept(&p, 1000);
	is_int((int)pollwin_window(&p), 200000, "never above the maximum");
	pollwin_slept(&p, 5000000);
	is_int((int)pollwin_window(&p), 100000, "long sleep: halved");
	for (int i = 0; i < 4; i++)
		pollwin_slept(&p, 1000000000);
	is_int((int)pollwin_window(&p), 0, "idle guest: window 0, no spin");
	pollwin_slept(&p, 1000);
	is_int((int)pollwin_window(&p), (int)POLLWIN_MIN_NS,
	    "from 0, a short sleep restarts at the minimum");

	pollwin_init(&p, 0);
	is_int((int)pollwin_window(&p), 0, "max 0: polling off");
	pollwin_slept(&p, 1000);
	is_int((int)pollwin_window(&p), 0, "max 0: stays off");

	pollwin_init(&p, 20000);
	is_int((int)pollwin_window(&p), 20000, "small max caps the first window");
	pollwin_init(&p, 5000);
	is_int((int)pollwin_window(&p), 0, "max under the minimum: off");
	return done_testing();
}
