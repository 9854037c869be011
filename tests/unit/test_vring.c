/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vring: pop, bounded chain walk (every malformed case), push with the
 * publish record, EVENT_IDX math and notification decisions, and the
 * recovery settling of a publish record left by a crash at each point.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../tap.h"
#include "journal.h"
#include "ringfix.h"
#include "vring.h"
#include "vu_proto.h"

#define BUF(n) (FIX_GPA_A + 0x60000 + 0x1000 * (n))
#define FEAT_ALL ((1ULL << VU_F_EVENT_IDX) | (1ULL << VU_F_INDIRECT_DESC) | \
    (1ULL << VU_F_VERSION_1))

static struct fix F;
static struct iovec iov[VRING_MAX_IOV];

static int
walk(struct vring_queue *vr, uint16_t head, struct vring_chain *c)
{
	c->iov = iov;
	c->max = VRING_MAX_IOV;
	return vring_walk(vr, head, c);
}

static void
test_attach(struct guestmem_table *gt)
{
	struct vring_queue vr = { 0 };
	struct region_queue_rec *rec = &F.r.dev->queue[1];

	fix_ring(&F, 1, 8);
	is_int(vring_attach(&vr, &F.r, 1, gt, FEAT_ALL), 0, "attach ok");
	rec->num = 6;
	is_int(vring_attach(&vr, &F.r, 1, gt, FEAT_ALL), -EINVAL,
	    "attach: size not a power of two");
	rec->num = 2048;
	is_int(vring_attach(&vr, &F.r, 1, gt, FEAT_ALL), -EINVAL,
	    "attach: size too large");
	rec->num = 8;
	rec->desc_uaddr += 8;
	is_int(vring_attach(&vr, &F.r, 1, gt, FEAT_ALL), -EINVAL,
	    "attach: misaligned descriptor table");
	rec->desc_uaddr = FIX_UADDR + FIX_SIZE_A + FIX_SIZE_B - 64;
	is_int(vring_attach(&vr, &F.r, 1, gt, FEAT_ALL), -EINVAL,
	    "attach: table crossing a region end");
	rec->desc_uaddr = 0x1000;
	is_int(vring_attach(&vr, &F.r, 1, gt, FEAT_ALL), -EINVAL,
	    "attach: table outside guest memory");
	vring_detach(&vr);
}

static void
test_walk(struct guestmem_table *gt)
{
	struct vring_queue vr = { 0 };
	struct vring_chain c;
	uint16_t n, head;

	fix_ring(&F, 0, 8);
	ok(vring_attach(&vr, &F.r, 0, gt, FEAT_ALL) == 0, "attach");

	is_int(vring_avail_count(&vr, 0, &n), 0, "empty ring: count ok");
	is_int(n, 0, "empty ring: nothing available");

	/* 0 -> 1 readable, 2 writable */
	memcpy(fix_ptr(&F, BUF(0)), "hello", 5);
	fix_desc(&F, 0, BUF(0), 40, VRING_DESC_F_NEXT, 1);
	fix_desc(&F, 1, BUF(1), 100, VRING_DESC_F_NEXT, 2);
	fix_desc(&F, 2, BUF(2), 200, VRING_DESC_F_WRITE, 0);
	fix_post(&F, 0);
	is_int(vring_avail_count(&vr, 0, &n), 0, "count ok");
	is_int(n, 1, "one available");
	is_int(vring_avail_head(&vr, 0, &head), 0, "head read");
	is_int(head, 0, "head 0");
	is_int(walk(&vr, 0, &c), 0, "simple chain walks");
	ok(c.nrd == 2 && c.nwr == 1 && c.rd_len == 140 && c.wr_len == 200,
	    "simple chain: 2 readable (140), 1 writable (200)");
	ok(iov[0].iov_base == fix_ptr(&F, BUF(0)) ||
	    memcmp(iov[0].iov_base, "hello", 5) == 0,
	    "iovec points at the guest buffer");
	{
		char tmp[64];

		is_int(vring_copy_readable(&c, tmp, 64), 64,
		    "copy_readable clamps to max");
		ok(memcmp(tmp, "hello", 5) == 0, "copy_readable content");
	}

	/* Buffer crossing from region A into region B: two iovecs. */
	fix_desc(&F, 3, FIX_GPA_B - 10, 30, VRING_DESC_F_WRITE, 0);
	is_int(walk(&vr, 3, &c), 0, "cross-region buffer accepted");
	ok(c.nwr == 2 && iov[0].iov_len == 10 && iov[1].iov_len == 20 &&
	    c.wr_len == 30, "cross-region buffer split in 10 + 20");

	/* Buffer running off the end of region C (a hole follows). */
	fix_desc(&F, 3, FIX_GPA_C + FIX_SIZE_C - 10, 30, 0, 0);
	is_int(walk(&vr, 3, &c), -EFAULT, "buffer past region end refused");
	fix_desc(&F, 3, 0x10, 30, 0, 0);
	is_int(walk(&vr, 3, &c), -EFAULT, "buffer outside memory refused");
	fix_desc(&F, 3, UINT64_MAX - 5, 30, 0, 0);
	is_int(walk(&vr, 3, &c), -EFAULT, "address wrap refused");

	/* Loop: 4 -> 5 -> 4. */
	fix_desc(&F, 4, BUF(0), 8, VRING_DESC_F_NEXT, 5);
	fix_desc(&F, 5, BUF(0), 8, VRING_DESC_F_NEXT, 4);
	is_int(walk(&vr, 4, &c), -EPROTO, "descriptor loop refused");
	/* Self loop. */
	fix_desc(&F, 4, BUF(0), 8, VRING_DESC_F_NEXT, 4);
	is_int(walk(&vr, 4, &c), -EPROTO, "self loop refused");
	/* next out of range. */
	fix_desc(&F, 4, BUF(0), 8, VRING_DESC_F_NEXT, 8);
	is_int(walk(&vr, 4, &c), -EPROTO, "next >= num refused");
	/* Full-length chain (8 descriptors) is fine, but 0..7 then loop not. */
	for (unsigned i = 0; i < 8; i++)
		fix_desc(&F, i, BUF(i), 8, i < 7 ? VRING_DESC_F_NEXT : 0,
		    i + 1);
	is_int(walk(&vr, 0, &c), 0, "chain of num descriptors accepted");
	is_int(c.nrd, 8, "8 readable");
	fix_desc(&F, 7, BUF(7), 8, VRING_DESC_F_NEXT, 0);
	is_int(walk(&vr, 0, &c), -EPROTO, "chain longer than num refused");

	/* Readable after writable. */
	fix_desc(&F, 0, BUF(0), 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	fix_desc(&F, 1, BUF(1), 8, 0, 0);
	is_int(walk(&vr, 0, &c), -EPROTO, "readable after writable refused");
	/* Zero length. */
	fix_desc(&F, 0, BUF(0), 0, 0, 0);
	is_int(walk(&vr, 0, &c), -EPROTO, "zero-length buffer refused");
	/* Head out of range. */
	is_int(walk(&vr, 8, &c), -EPROTO, "head >= num refused by walk");

	/* Indirect. */
	{
		uint8_t *tab = fix_ptr(&F, BUF(20));

		fix_desc_at(tab, 0, BUF(0), 16, VRING_DESC_F_NEXT, 1);
		fix_desc_at(tab, 1, BUF(1), 32, VRING_DESC_F_NEXT, 2);
		fix_desc_at(tab, 2, BUF(2), 64, VRING_DESC_F_WRITE, 0);
		fix_desc(&F, 0, BUF(20), 48, VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), 0, "indirect chain walks");
		ok(c.nrd == 2 && c.nwr == 1 && c.rd_len == 48 &&
		    c.wr_len == 64, "indirect: 2 readable, 1 writable");

		fix_desc(&F, 0, BUF(20), 40, VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), -EPROTO,
		    "indirect length not a multiple of 16 refused");
		fix_desc(&F, 0, BUF(20), 0, VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), -EPROTO, "indirect length 0 refused");
		fix_desc(&F, 0, BUF(20), 16 * 2048, VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), -EPROTO,
		    "indirect table too large refused");
		fix_desc(&F, 0, BUF(20), 48,
		    VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
		is_int(walk(&vr, 0, &c), -EPROTO, "indirect with NEXT refused");
		fix_desc(&F, 0, FIX_GPA_C + FIX_SIZE_C - 32, 48,
		    VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), -EFAULT,
		    "indirect table past region end refused");
		/* nested */
		fix_desc_at(tab, 1, BUF(21), 16, VRING_DESC_F_INDIRECT, 0);
		fix_desc(&F, 0, BUF(20), 48, VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), -EPROTO, "nested indirect refused");
		/* indirect in the middle of a direct chain */
		fix_desc(&F, 0, BUF(0), 8, VRING_DESC_F_NEXT, 1);
		fix_desc(&F, 1, BUF(20), 48, VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), -EPROTO,
		    "indirect after a direct descriptor refused");
		/* loop inside the table */
		fix_desc_at(tab, 0, BUF(0), 16, VRING_DESC_F_NEXT, 1);
		fix_desc_at(tab, 1, BUF(1), 16, VRING_DESC_F_NEXT, 0);
		fix_desc(&F, 0, BUF(20), 48, VRING_DESC_F_INDIRECT, 0);
		is_int(walk(&vr, 0, &c), -EPROTO, "loop in indirect refused");
		/* next beyond the table */
		fix_desc_at(tab, 1, BUF(1), 16, VRING_DESC_F_NEXT, 3);
		is_int(walk(&vr, 0, &c), -EPROTO,
		    "indirect next beyond table refused");
		/* not negotiated */
		vring_attach(&vr, &F.r, 0, gt, 1ULL << VU_F_VERSION_1);
		fix_desc_at(tab, 1, BUF(1), 16, 0, 0);
		is_int(walk(&vr, 0, &c), -EPROTO,
		    "indirect without the feature refused");
	}
	/* Too many iovecs for the caller's array. */
	vring_attach(&vr, &F.r, 0, gt, FEAT_ALL);
	for (unsigned i = 0; i < 8; i++)
		fix_desc(&F, i, BUF(i), 8, i < 7 ? VRING_DESC_F_NEXT : 0,
		    i + 1);
	c.iov = iov;
	c.max = 4;
	is_int(vring_walk(&vr, 0, &c), -E2BIG, "iovec overflow refused");

	/* Avail ring: idx jump and bad head. */
	fix_ring(&F, 0, 8);
	vring_attach(&vr, &F.r, 0, gt, FEAT_ALL);
	fix_set16(&F, F.avail_gpa + 2, 9);
	is_int(vring_avail_count(&vr, 0, &n), -EPROTO,
	    "avail->idx more than num ahead refused");
	fix_set16(&F, F.avail_gpa + 2, 8);
	is_int(vring_avail_count(&vr, 0, &n), 0, "exactly num ahead ok");
	fix_set16(&F, F.avail_gpa + 4, 8);
	is_int(vring_avail_head(&vr, 0, &head), -EPROTO,
	    "head >= num in avail ring refused");
	/* wrap-around of the 16-bit index */
	fix_set16(&F, F.avail_gpa + 2, 3);
	is_int(vring_avail_count(&vr, 0xfffe, &n), 0, "index wrap ok");
	is_int(n, 5, "index wrap: 5 available");
	vring_detach(&vr);
}

static void
test_push(struct guestmem_table *gt)
{
	struct vring_queue vr = { 0 };
	struct vring_used_ent e[3] = { { 2, 10 }, { 0, 20 }, { 5, 30 } };
	struct journal_slot_rec *s;

	fix_ring(&F, 0, 8);
	vring_attach(&vr, &F.r, 0, gt, FEAT_ALL);
	for (unsigned i = 0; i < 3; i++) {
		s = region_slot(&F.r, 0, e[i].id);
		s->word = journal_word(JOURNAL_REPLIED, 7, (uint16_t)i, 0);
	}
	/* used_event = 0: the guest wants to hear about entry 0. */
	fix_set16(&F, FIX_USED_EVENT(&F), 0);
	ok(vring_push(&vr, e, 3), "push: notification wanted (used_event 0)");
	is_int(fix_le16(&F, FIX_USED_IDX(&F)), 3, "used->idx = 3");
	ok(fix_le32(&F, FIX_USED_ID(&F, 0)) == 2 &&
	    fix_le32(&F, FIX_USED_LEN(&F, 0)) == 10 &&
	    fix_le32(&F, FIX_USED_ID(&F, 2)) == 5 &&
	    fix_le32(&F, FIX_USED_LEN(&F, 2)) == 30, "used elements written");
	is_int(F.r.dev->queue[0].used_idx, 3, "shadow used_idx = 3");
	is_int(F.r.dev->queue[0].publish.active, 0, "publish record closed");
	s = region_slot(&F.r, 0, 5);
	is_int(journal_state(s->word), JOURNAL_FREE, "slot freed");
	is_int(journal_gen(s->word), 7, "freed slot keeps its generation");

	/* used_event = 1: already passed at old=3 -> no notification. */
	fix_set16(&F, FIX_USED_EVENT(&F), 1);
	ok(!vring_push(&vr, e, 1), "push: no notification (used_event 1)");
	fix_set16(&F, FIX_USED_EVENT(&F), 5);
	ok(!vring_push(&vr, e, 1), "push 4->5, used_event 5: none");
	ok(vring_push(&vr, e, 1), "push 5->6, used_event 5: notify");
	is_int(fix_le16(&F, FIX_USED_IDX(&F)), 6, "used->idx = 6");

	/* Without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT decides. */
	vring_attach(&vr, &F.r, 0, gt, 1ULL << VU_F_VERSION_1);
	fix_set16(&F, FIX_AVAIL_FLAGS(&F), VRING_AVAIL_F_NO_INTERRUPT);
	ok(!vring_push(&vr, e, 1), "NO_INTERRUPT: no notification");
	fix_set16(&F, FIX_AVAIL_FLAGS(&F), 0);
	ok(vring_push(&vr, e, 1), "flags 0: notification");

	/* prepare_sleep: avail_event / NO_NOTIFY. */
	vring_suppress_kicks(&vr);
	is_int(fix_le16(&F, FIX_USED_FLAGS(&F)), VRING_USED_F_NO_NOTIFY,
	    "busy: NO_NOTIFY set");
	ok(vring_prepare_sleep(&vr, 0), "prepare_sleep: nothing new");
	is_int(fix_le16(&F, FIX_USED_FLAGS(&F)), 0, "sleep: NO_NOTIFY clear");
	vring_attach(&vr, &F.r, 0, gt, FEAT_ALL);
	fix_post(&F, 1);
	ok(!vring_prepare_sleep(&vr, 0), "prepare_sleep sees new entry");
	is_int(fix_le16(&F, FIX_AVAIL_EVENT(&F)), 0, "avail_event = 0");
	ok(vring_prepare_sleep(&vr, 1), "prepare_sleep at 1: nothing new");
	is_int(fix_le16(&F, FIX_AVAIL_EVENT(&F)), 1, "avail_event = 1");

	/* Ring wrap of used entries: 8 more from used 8. */
	vring_detach(&vr);
}

static void
test_event_math(void)
{
	ok(vring_event_needed(0, 1, 0), "need_event(0, 1, 0)");
	ok(!vring_event_needed(1, 1, 0), "!need_event(1, 1, 0)");
	ok(vring_event_needed(4, 8, 2), "need_event(4, 8, 2): inside batch");
	ok(!vring_event_needed(8, 8, 2), "!need_event(8, 8, 2): event ahead");
	ok(vring_event_needed(0xffff, 2, 0xfffe), "need_event across wrap");
	ok(!vring_event_needed(3, 2, 0xfffe), "!need_event across wrap");
}

static void
test_settle(struct guestmem_table *gt)
{
	struct vring_queue vr = { 0 };
	struct region_queue_rec *rec;
	struct region_publish_rec *pub;
	struct journal_slot_rec *s;

	fix_ring(&F, 0, 8);
	vring_attach(&vr, &F.r, 0, gt, FEAT_ALL);
	rec = &F.r.dev->queue[0];
	pub = &rec->publish;

	/* Crash after the publish record, before used->idx. */
	rec->used_idx = 4;
	fix_set16(&F, FIX_USED_IDX(&F), 4);
	pub->first = 4;
	pub->count = 2;
	pub->elem[0] = 3 | (uint64_t)77 << 32;
	pub->elem[1] = 6 | (uint64_t)88 << 32;
	pub->active = 1;
	s = region_slot(&F.r, 0, 3);
	s->word = journal_word(JOURNAL_REPLIED, 1, 0, 0); /* not yet freed */
	is_int(vring_settle_publish(&vr), 1, "unpublished record rewritten");
	is_int(fix_le16(&F, FIX_USED_IDX(&F)), 6, "used->idx now 6");
	ok(fix_le32(&F, FIX_USED_ID(&F, 4)) == 3 &&
	    fix_le32(&F, FIX_USED_LEN(&F, 4)) == 77 &&
	    fix_le32(&F, FIX_USED_ID(&F, 5)) == 6 &&
	    fix_le32(&F, FIX_USED_LEN(&F, 5)) == 88, "elements rewritten");
	is_int(rec->used_idx, 6, "shadow 6");
	is_int(pub->active, 0, "record closed");
	is_int(journal_state(s->word), JOURNAL_FREE, "its slot freed");

	/* Crash after used->idx, before the shadow. */
	pub->first = 6;
	pub->count = 3;
	pub->active = 1;
	fix_set16(&F, FIX_USED_IDX(&F), 9);
	fix_set16(&F, FIX_USED_ID(&F, 6 % 8), 5); /* guest-visible: untouched */
	is_int(vring_settle_publish(&vr), 0, "published record: nothing to do");
	is_int(rec->used_idx, 9, "shadow caught up to 9");
	is_int(fix_le16(&F, FIX_USED_ID(&F, 6)), 5, "used ring not rewritten");
	is_int(pub->active, 0, "record closed");

	/* Corrupt record. */
	pub->count = 100;
	pub->active = 1;
	is_int(vring_settle_publish(&vr), -EPROTO, "corrupt record refused");
	is_int(pub->active, 0, "corrupt record cleared");

	/* No record: guest used->idx restored from the shadow. */
	fix_set16(&F, FIX_USED_IDX(&F), 1234);
	is_int(vring_settle_publish(&vr), 0, "no record");
	is_int(fix_le16(&F, FIX_USED_IDX(&F)), 9, "used->idx = shadow");

	/* Wrap: record across the 16-bit boundary, unpublished. */
	rec->used_idx = 0xffff;
	fix_set16(&F, FIX_USED_IDX(&F), 0xffff);
	pub->first = 0xffff;
	pub->count = 2;
	pub->elem[0] = 1 | (uint64_t)1 << 32;
	pub->elem[1] = 2 | (uint64_t)2 << 32;
	pub->active = 1;
	is_int(vring_settle_publish(&vr), 1, "wrapping record rewritten");
	is_int(fix_le16(&F, FIX_USED_IDX(&F)), 1, "used->idx wrapped to 1");
	ok(fix_le32(&F, FIX_USED_ID(&F, 7)) == 1 &&
	    fix_le32(&F, FIX_USED_ID(&F, 0)) == 2, "wrapping elements");
	vring_detach(&vr);
}

int
main(void)
{
	struct guestmem_table *gt;

	if (fix_region(&F.r) < 0 || fix_mem(&F) < 0) {
		printf("1..0 # SKIP cannot create fixture\n");
		return 0;
	}
	if (guestmem_init(&F.gm) < 0 ||
	    guestmem_build(F.recs, 3, &gt) < 0) {
		printf("Bail out! guestmem_build failed\n");
		return 1;
	}
	guestmem_install(&F.gm, gt);
	gt = guestmem_get(&F.gm);
	test_attach(gt);
	test_walk(gt);
	test_push(gt);
	test_event_math();
	test_settle(gt);
	guestmem_put(gt);
	guestmem_fini(&F.gm);
	return done_testing();
}
