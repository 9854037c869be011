/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guestmem: record validation, translation with the length checked against
 * one region, splitting across regions, uaddr translation, and snapshot
 * lifetime (an old table stays mapped while referenced).
 */
#include <errno.h>
#include <stdio.h>

#include "../tap.h"
#include "ringfix.h"

static struct fix F;

int
main(void)
{
	struct guestmem_table *t, *old;
	struct region_mem_rec bad[2];
	uint64_t got;
	uint8_t *p;

	if (fix_mem(&F) < 0)
		skip_all("no memfd");

	bad[0] = F.recs[0];
	bad[0].size = 0;
	is_int(guestmem_build(bad, 1, &t), -EINVAL, "size 0 refused");
	bad[0] = F.recs[0];
	bad[0].gpa = UINT64_MAX - 10;
	is_int(guestmem_build(bad, 1, &t), -EINVAL, "gpa overflow refused");
	bad[0] = F.recs[0];
	bad[0].fd = -1;
	is_int(guestmem_build(bad, 1, &t), -EINVAL, "fd -1 refused");
	bad[0] = F.recs[0];
	bad[1] = F.recs[1];
	bad[1].gpa = F.recs[0].gpa + 0x1000;
	is_int(guestmem_build(bad, 2, &t), -EINVAL, "gpa overlap refused");
	bad[1] = F.recs[1];
	bad[1].uaddr = F.recs[0].uaddr;
	is_int(guestmem_build(bad, 2, &t), -EINVAL, "uaddr overlap refused");
	bad[0] = F.recs[0];
	bad[0].fd = 999; /* not open */
	ok(guestmem_build(bad, 1, &t) < 0, "unmappable fd refused");

	is_int(guestmem_build(F.recs, 3, &t), 0, "three regions map");
	is_int(guestmem_init(&F.gm), 0, "init");
	ok(guestmem_gpa(guestmem_get(&F.gm), FIX_GPA_A, 1) == NULL,
	    "empty table translates nothing");
	guestmem_put(F.gm.cur); /* the get above */
	guestmem_install(&F.gm, t);

	t = guestmem_get(&F.gm);
	memcpy(F.mem + 0x1234, "abc", 3);
	p = guestmem_gpa(t, FIX_GPA_A + 0x1234, 3);
	ok(p != NULL && memcmp(p, "abc", 3) == 0, "gpa translation");
	memcpy(F.mem + FIX_SIZE_A + 5, "xyz", 3);
	p = guestmem_gpa(t, FIX_GPA_B + 5, 3);
	ok(p != NULL && memcmp(p, "xyz", 3) == 0, "region B (file offset)");
	memcpy(F.mem + FIX_SIZE_A + FIX_SIZE_B + 7, "uvw", 3);
	p = guestmem_gpa(t, FIX_GPA_C + 7, 3);
	ok(p != NULL && memcmp(p, "uvw", 3) == 0, "region C");
	p = guestmem_uaddr(t, FIX_UADDR + FIX_SIZE_A + FIX_SIZE_B + 7, 3);
	ok(p != NULL && memcmp(p, "uvw", 3) == 0, "uaddr translation");

	ok(guestmem_gpa(t, FIX_GPA_B - 1, 2) == NULL,
	    "range crossing A/B refused by guestmem_gpa");
	p = guestmem_gpa_span(t, FIX_GPA_B - 1, 2, &got);
	ok(p != NULL && got == 1, "gpa_span gives the part in A");
	ok(guestmem_gpa(t, FIX_GPA_C + FIX_SIZE_C - 1, 2) == NULL,
	    "range past C refused");
	ok(guestmem_gpa(t, FIX_GPA_C + FIX_SIZE_C, 1) == NULL,
	    "address after C refused");
	ok(guestmem_gpa(t, FIX_GPA_A - 1, 1) == NULL, "address before A");
	ok(guestmem_gpa(t, FIX_GPA_A, 0) == NULL, "length 0 refused");
	ok(guestmem_gpa(t, UINT64_MAX, 2) == NULL, "wrap refused");
	ok(guestmem_uaddr(t, FIX_UADDR + FIX_SIZE_A - 1, 2) == NULL,
	    "uaddr range crossing regions refused");
	ok(guestmem_gpa(t, FIX_GPA_B + FIX_SIZE_B - 4, 4) != NULL,
	    "last bytes of B ok");

	/* A new table is installed while t is held: t stays usable. */
	old = t;
	{
		struct guestmem_table *t2;
		uint64_t gen = guestmem_gen(&F.gm);

		is_int(guestmem_build(F.recs, 1, &t2), 0, "one-region table");
		guestmem_install(&F.gm, t2);
		ok(guestmem_gen(&F.gm) == gen + 1, "generation bumped");
	}
	p = guestmem_gpa(old, FIX_GPA_C + 7, 3);
	ok(p != NULL && memcmp(p, "uvw", 3) == 0,
	    "old snapshot still mapped while referenced");
	guestmem_put(old);
	t = guestmem_get(&F.gm);
	ok(guestmem_gpa(t, FIX_GPA_C + 7, 3) == NULL,
	    "new snapshot lacks region C");
	guestmem_put(t);

	/* remap from a region record table */
	{
		struct region r;
		struct region_dev_rec *dev = calloc(1, sizeof(*dev));

		memset(&r, 0, sizeof(r));
		r.dev = dev;
		for (unsigned i = 0; i < REGION_MAX_MEM; i++)
			dev->mem[i].fd = -1;
		dev->mem[5] = F.recs[2];
		is_int(guestmem_remap_from_region(&F.gm, &r), 0,
		    "remap from region");
		t = guestmem_get(&F.gm);
		ok(t->n == 1 && guestmem_gpa(t, FIX_GPA_C + 7, 3) != NULL,
		    "remapped table has the recorded region");
		guestmem_put(t);
		free(dev);
	}
	guestmem_fini(&F.gm);
	return done_testing();
}
