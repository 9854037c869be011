/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory: THE choke point for guest addresses. The memory table
 * itself lives in the state region (dev->mem[], written by vu_dispatch);
 * this module holds one incarnation's mappings of it as immutable,
 * reference-counted snapshots (struct guestmem_table). A reader (a queue
 * thread for a batch, a pool thread for a request) takes a reference with
 * guestmem_get() and every pointer it translated stays valid until its
 * guestmem_put(). A table change builds a new snapshot and installs it;
 * the old one is unmapped when its last reader lets go, never under one.
 *
 * Translation is checked against one region: [addr, addr + len) must lie
 * inside a single region or the call fails. Callers that accept buffers
 * crossing regions split them with guestmem_gpa_span().
 */
#ifndef PHX_GUESTMEM_H
#define PHX_GUESTMEM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "region.h"

struct guestmem_map {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint8_t *hva;		/* guest byte at gpa */
	void *mmap_addr;	/* what munmap() gets */
	size_t mmap_len;
	int fd;			/* the region's fd number (not owned) */
};

struct guestmem_table {
	unsigned long refs;	/* atomic */
	uint64_t gen;		/* set by guestmem_install() */
	unsigned n;
	struct guestmem_map m[REGION_MAX_MEM];
};

struct guestmem {
	pthread_mutex_t lock;	/* protects cur and gen; held briefly */
	struct guestmem_table *cur; /* never NULL after guestmem_init() */
	uint64_t gen;		/* atomic read allowed: bumped per install */
};

/* Sets up an empty table. -ENOMEM. */
int guestmem_init(struct guestmem *gm);
/* Drops the current table (unmapped once unreferenced). */
void guestmem_fini(struct guestmem *gm);

/*
 * Validates the n records (non-empty, no overflow, no gpa overlap, fd >= 0)
 * and maps each fd (MAP_SHARED, read-write). The fds are not owned: they
 * stay open. -EINVAL for a bad record, -errno of mmap. The result has one
 * reference, owned by the caller (pass it to guestmem_install or put it).
 */
int guestmem_build(const struct region_mem_rec *mem, unsigned n,
    struct guestmem_table **ret_table);
/* Makes t current (consumes the caller's reference) and drops the old. */
void guestmem_install(struct guestmem *gm, struct guestmem_table *t);
/*
 * Recovery and runtime: builds a table from r->dev->mem[] (entries with
 * fd < 0 skipped) and installs it. -EINVAL/-errno as guestmem_build.
 */
int guestmem_remap_from_region(struct guestmem *gm, const struct region *r);

/* A reference to the current table. Never NULL. Any thread. */
struct guestmem_table *guestmem_get(struct guestmem *gm);
/* Another reference to a table the caller already holds. */
struct guestmem_table *guestmem_ref(struct guestmem_table *t);
/* Drops a reference; the last one unmaps. NULL is a no-op. */
void guestmem_put(struct guestmem_table *t);
/* Generation of the current table (changes at every install). */
uint64_t guestmem_gen(struct guestmem *gm);

/* hva of [gpa, gpa + len) if it lies in one region, else NULL. len > 0. */
void *guestmem_gpa(const struct guestmem_table *t, uint64_t gpa,
    uint64_t len);
/*
 * hva of gpa and, in *ret_len, how many of the len bytes from there are
 * contiguous in its region (1..len). NULL if gpa is in no region or
 * len == 0 or gpa + len overflows.
 */
void *guestmem_gpa_span(const struct guestmem_table *t, uint64_t gpa,
    uint64_t len, uint64_t *ret_len);
/* hva of QEMU user address range [uaddr, uaddr + len) in one region. */
void *guestmem_uaddr(const struct guestmem_table *t, uint64_t uaddr,
    uint64_t len);

#endif
