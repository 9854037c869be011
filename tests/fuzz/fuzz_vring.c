/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the split-ring consumer and producer (vring.c) over
 * a guest memory table (guestmem.c): the fuzzer writes the descriptor
 * table, the avail ring, the used ring and everything indirect tables and
 * buffers point at; the target attaches, counts, pops every head, walks
 * each chain, reads every readable and writes every writable byte the walk
 * returned, pushes the used elements and settles a fuzzed publish record.
 *
 * Guest memory is three regions (A and B contiguous in guest-physical
 * space, C after a hole), each an anonymous mapping with a PROT_NONE guard
 * page on both sides, so a read or write one byte outside the table faults
 * under the fuzzer. Every iovec is also checked to lie inside one region.
 *
 * Input: 8 bytes of control, then the bytes of region A, then region B.
 *   [0] ring size log2 (mod 11)   [1] flags (see F_*)
 *   [2..3] last_avail (LE)        [4..5] used index shadow (LE)
 *   [6] iovec limit (0: VRING_MAX_IOV)  [7] publish count (F_PUBLISH)
 */
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guestmem.h"
#include "log.h"
#include "region.h"
#include "vring.h"
#include "vu_proto.h"

#define F_EVENT_IDX 0x01
#define F_INDIRECT  0x02
#define F_PUSH	    0x04
#define F_PUBLISH   0x08
#define F_SLEEP	    0x10

#define GPA_A  0x10000ULL
#define SIZE_A 0x10000ULL
#define GPA_B  (GPA_A + SIZE_A)
#define SIZE_B 0x4000ULL
#define GPA_C  0x100000ULL
#define SIZE_C 0x1000ULL
#define UADDR  0x7f0000000000ULL
#define CTL    8

static struct region r;
static struct guestmem_table *gt;
static struct iovec iov[VRING_MAX_IOV];
static uint8_t copybuf[65536];

static uint8_t *
guarded(uint64_t size)
{
	long ps = sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, size + 2 * (uint64_t)ps, PROT_NONE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p + ps, size, PROT_READ | PROT_WRITE))
		abort();
	return p + ps;
}

static void
setup(void)
{
	static const uint64_t gpa[3] = { GPA_A, GPA_B, GPA_C };
	static const uint64_t size[3] = { SIZE_A, SIZE_B, SIZE_C };
	struct region_params p = { .max_inodes = 16, .max_handles = 16 };

	log_init(getenv("PHX_FUZZ_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR, false);
	if (region_create(&r, &p) < 0)
		abort();
	gt = calloc(1, sizeof(*gt));
	if (gt == NULL)
		abort();
	gt->refs = 1; /* ours, never dropped: nothing is ever unmapped */
	gt->n = 3;
	for (unsigned i = 0; i < 3; i++) {
		gt->m[i].gpa = gpa[i];
		gt->m[i].size = size[i];
		gt->m[i].uaddr = UADDR + (gpa[i] - GPA_A);
		gt->m[i].hva = guarded(size[i]);
		gt->m[i].mmap_addr = NULL;
		gt->m[i].fd = -1;
	}
}

/* Aborts unless [p, p + len) lies inside one guest region. */
static void
check_inside(const void *p, size_t len)
{
	const uint8_t *b = p;

	for (unsigned i = 0; i < gt->n; i++) {
		const uint8_t *lo = gt->m[i].hva, *hi = lo + gt->m[i].size;

		if (b >= lo && b <= hi && len <= (size_t)(hi - b))
			return;
	}
	fprintf(stderr, "iovec %p+%zu outside guest memory\n", p, len);
	abort();
}

static uint16_t
le16at(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vring_used_ent ents[REGION_MAX_QUEUE_SIZE];
	struct region_queue_rec *rec;
	struct vring_queue vr;
	struct vring_chain c;
	uint64_t feats = 1ULL << VU_F_VERSION_1;
	unsigned num, flags, nent = 0;
	uint16_t last, n, head;
	size_t rest;

	if (gt == NULL)
		setup();
	if (size < CTL)
		return -1;
	num = 1u << (data[0] % 11);
	flags = data[1];
	last = le16at(data + 2);
	if (flags & F_EVENT_IDX)
		feats |= 1ULL << VU_F_EVENT_IDX;
	if (flags & F_INDIRECT)
		feats |= 1ULL << VU_F_INDIRECT_DESC;

	memset(gt->m[0].hva, 0, SIZE_A);
	memset(gt->m[1].hva, 0, SIZE_B);
	memset(gt->m[2].hva, 0, SIZE_C);
	rest = size - CTL;
	memcpy(gt->m[0].hva, data + CTL, MIN(rest, SIZE_A));
	if (rest > SIZE_A)
		memcpy(gt->m[1].hva, data + CTL + SIZE_A,
		    MIN(rest - SIZE_A, SIZE_B));

	/* Rings at the start of A, as a driver lays them out. */
	rec = &r.dev->queue[1];
	memset(rec, 0, sizeof(*rec));
	rec->num = num;
	rec->desc_uaddr = UADDR;
	rec->avail_uaddr = UADDR + 16 * num;
	rec->used_uaddr = UADDR + ALIGN_UP(16 * num + 6 + 2 * num, 4);
	rec->used_idx = le16at(data + 4);
	rec->last_avail_idx = last;
	rec->kick_fd = rec->call_fd = rec->err_fd = -1;
	rec->started = rec->enabled = 1;

	memset(&vr, 0, sizeof(vr));
	if (vring_attach(&vr, &r, 1, gt, feats) < 0)
		abort(); /* our layout is valid */

	if (flags & F_PUBLISH) {
		struct region_publish_rec *pub = &rec->publish;

		pub->first = rec->used_idx;
		pub->count = data[7];
		for (unsigned i = 0; i < data[7]; i++)
			pub->elem[i] = (uint64_t)(i * 7 % (num + 1)) |
			    (uint64_t)(i * 13) << 32;
		pub->active = 1;
		(void)vring_settle_publish(&vr);
	}

	(void)vring_used_idx_guest(&vr);
	if (vring_avail_count(&vr, last, &n) == 0) {
		if (n > num)
			abort(); /* the contract: at most num */
		for (uint16_t i = 0; i < n; i++, last++) {
			volatile uint8_t sink = 0;
			int err;

			if (vring_avail_head(&vr, last, &head) < 0)
				break;
			if (head >= num)
				abort();
			memset(&c, 0, sizeof(c));
			c.iov = iov;
			c.max = data[6] ? data[6] : VRING_MAX_IOV;
			err = vring_walk(&vr, head, &c);
			if (err < 0)
				continue;
			if (c.nrd + c.nwr > c.max)
				abort();
			for (unsigned k = 0; k < c.nrd + c.nwr; k++) {
				uint8_t *b = iov[k].iov_base;

				check_inside(b, iov[k].iov_len);
				if (k < c.nrd) {
					for (size_t j = 0; j < iov[k].iov_len;
					    j += 64)
						sink ^= b[j];
					if (iov[k].iov_len > 0)
						sink ^= b[iov[k].iov_len - 1];
				} else if (iov[k].iov_len > 0) {
					b[0] = 0xa5;
					b[iov[k].iov_len - 1] = 0x5a;
				}
			}
			(void)sink;
			(void)vring_copy_readable(&c, copybuf,
			    MIN(c.rd_len, sizeof(copybuf)));
			ents[nent].id = head;
			ents[nent].len = (uint32_t)MIN(c.wr_len, UINT32_MAX);
			nent++;
		}
	}
	if ((flags & F_PUSH) && nent > 0) {
		(void)vring_push(&vr, ents, nent);
		(void)vring_notify(&vr);
	}
	if (flags & F_SLEEP) {
		vring_suppress_kicks(&vr);
		(void)vring_prepare_sleep(&vr, last);
	}
	(void)vring_event_needed(le16at(data + 2), le16at(data + 4),
	    (uint16_t)(last - 1));
	vring_detach(&vr);
	return 0;
}
