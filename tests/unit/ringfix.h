/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Test fixture shared by test_vring.c and test_queue.c: a memfd "guest RAM"
 * of three regions (A and B contiguous in guest-physical space, C after a
 * hole), a state region, and helpers to lay out a split ring and chains in
 * that memory as a driver would.
 */
#ifndef PHX_RINGFIX_H
#define PHX_RINGFIX_H

#include <endian.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "guestmem.h"
#include "region.h"

#define FIX_GPA_A  0x100000ULL
#define FIX_SIZE_A 0x80000ULL
#define FIX_GPA_B  (FIX_GPA_A + FIX_SIZE_A) /* contiguous with A */
#define FIX_SIZE_B 0x80000ULL
#define FIX_GPA_C  0x400000ULL		   /* after a hole */
#define FIX_SIZE_C 0x40000ULL
#define FIX_UADDR  0x7f0000000000ULL	   /* QEMU's view of A; B, C follow */
#define FIX_MEMSZ  (FIX_SIZE_A + FIX_SIZE_B + FIX_SIZE_C)

struct fix {
	int memfd;
	uint8_t *mem;		/* our mapping of the whole memfd */
	struct region_mem_rec recs[3];
	struct guestmem gm;
	struct region r;
	unsigned num;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t avail_idx;	/* driver shadow */
};

static inline uint8_t *
fix_ptr(struct fix *f, uint64_t gpa)
{
	if (gpa >= FIX_GPA_A && gpa < FIX_GPA_B + FIX_SIZE_B)
		return f->mem + (gpa - FIX_GPA_A);
	return f->mem + FIX_SIZE_A + FIX_SIZE_B + (gpa - FIX_GPA_C);
}

static inline uint64_t
fix_uaddr(uint64_t gpa)
{
	if (gpa < FIX_GPA_C)
		return FIX_UADDR + (gpa - FIX_GPA_A);
	return FIX_UADDR + FIX_SIZE_A + FIX_SIZE_B + (gpa - FIX_GPA_C);
}

static inline int
fix_region(struct region *r)
{
	struct region_params p = { .max_inodes = 64, .max_handles = 64 };

	return region_create(r, &p);
}

static inline int
fix_mem(struct fix *f)
{
	f->memfd = memfd_create("fixmem", 0);
	if (f->memfd < 0 || ftruncate(f->memfd, FIX_MEMSZ) < 0)
		return -1;
	f->mem = mmap(NULL, FIX_MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED,
	    f->memfd, 0);
	if (f->mem == MAP_FAILED)
		return -1;
	f->recs[0] = (struct region_mem_rec){ FIX_GPA_A, FIX_SIZE_A,
		FIX_UADDR, 0, f->memfd };
	f->recs[1] = (struct region_mem_rec){ FIX_GPA_B, FIX_SIZE_B,
		FIX_UADDR + FIX_SIZE_A, FIX_SIZE_A, f->memfd };
	f->recs[2] = (struct region_mem_rec){ FIX_GPA_C, FIX_SIZE_C,
		FIX_UADDR + FIX_SIZE_A + FIX_SIZE_B, FIX_SIZE_A + FIX_SIZE_B,
		f->memfd };
	return 0;
}

/* Lays a ring of num entries for queue q at the start of region A. */
static inline void
fix_ring(struct fix *f, unsigned q, unsigned num)
{
	struct region_queue_rec *rec = &f->r.dev->queue[q];

	f->num = num;
	f->desc_gpa = FIX_GPA_A + 0x1000 * (1 + 16 * q);
	f->avail_gpa = f->desc_gpa + 16 * num;
	f->used_gpa = ALIGN_UP(f->avail_gpa + 6 + 2 * num, 4);
	memset(fix_ptr(f, f->desc_gpa), 0, 0x8000);
	rec->desc_uaddr = fix_uaddr(f->desc_gpa);
	rec->avail_uaddr = fix_uaddr(f->avail_gpa);
	rec->used_uaddr = fix_uaddr(f->used_gpa);
	rec->num = num;
	rec->used_idx = 0;
	rec->last_avail_idx = 0;
	rec->publish.active = 0;
	f->avail_idx = 0;
}

static inline void
fix_desc_at(uint8_t *tab, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	struct vring_desc d = { htole64(addr), htole32(len), htole16(flags),
		htole16(next) };

	memcpy(tab + 16 * i, &d, 16);
}

static inline void
fix_desc(struct fix *f, unsigned i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	fix_desc_at(fix_ptr(f, f->desc_gpa), i, addr, len, flags, next);
}

static inline void
fix_post(struct fix *f, uint16_t head)
{
	uint8_t *a = fix_ptr(f, f->avail_gpa);
	uint16_t v = htole16(head);

	memcpy(a + 4 + 2 * (f->avail_idx % f->num), &v, 2);
	f->avail_idx++;
	v = htole16(f->avail_idx);
	__atomic_store_n((uint16_t *)(void *)(a + 2), v, __ATOMIC_RELEASE);
}

static inline uint16_t
fix_le16(struct fix *f, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, fix_ptr(f, gpa), 2);
	return le16toh(v);
}

static inline void
fix_set16(struct fix *f, uint64_t gpa, uint16_t val)
{
	val = htole16(val);
	memcpy(fix_ptr(f, gpa), &val, 2);
}

static inline uint32_t
fix_le32(struct fix *f, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, fix_ptr(f, gpa), 4);
	return le32toh(v);
}

#define FIX_USED_IDX(f)	    ((f)->used_gpa + 2)
#define FIX_USED_ID(f, i)   ((f)->used_gpa + 4 + 8 * (i))
#define FIX_USED_LEN(f, i)  ((f)->used_gpa + 8 + 8 * (i))
#define FIX_USED_EVENT(f)   ((f)->avail_gpa + 4 + 2 * (f)->num)
#define FIX_AVAIL_EVENT(f)  ((f)->used_gpa + 4 + 8 * (f)->num)
#define FIX_AVAIL_FLAGS(f)  ((f)->avail_gpa)
#define FIX_USED_FLAGS(f)   ((f)->used_gpa)

#endif
