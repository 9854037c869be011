// SPDX-License-Identifier: GPL-2.0-or-later
/* placeholder */
#include "cli.h"
int
hostile_main(const struct cli *c, int argc, char **argv)
{
	return 2;
}
