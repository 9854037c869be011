/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The adaptive polling window (pollwin.h): grow on short sleeps, shrink on
 * long ones. Owns nothing but the two numbers of struct pollwin. */
#include "compiler.h"
#include "pollwin.h"

void
pollwin_init(struct pollwin *p, uint64_t max_ns)
{
	p->max_ns = max_ns;
	p->cur_ns = MIN(max_ns, 5 * POLLWIN_MIN_NS);
	if (p->cur_ns < POLLWIN_MIN_NS)
		p->cur_ns = 0;
}

void
pollwin_slept(struct pollwin *p, uint64_t slept_ns)
{
	if (p->max_ns < POLLWIN_MIN_NS) {
		p->cur_ns = 0;
		return;
	}
	if (slept_ns <= p->max_ns) {
		/* A window of slept_ns would have caught it: grow. */
		p->cur_ns = MIN(MAX(p->cur_ns * 2, POLLWIN_MIN_NS), p->max_ns);
		return;
	}
	p->cur_ns /= 2;
	if (p->cur_ns < POLLWIN_MIN_NS)
		p->cur_ns = 0;
}
