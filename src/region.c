/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Creates and validates the state region (DESIGN 2). The keeper creates the
 * memfd once, sizes it to its final size (the file is sparse: pages cost
 * memory only when first written), seals it against shrinking (a shrink
 * would SIGBUS the keeper) and maps it once; workers inherit the mapping.
 * region_attach() treats the bytes as untrusted: every section must lie
 * inside the file, in order, without overlap.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "journal.h"
#include "region.h"

#define SECTION_ALIGN 4096ULL

static uint64_t
pow2_at_least(uint64_t n)
{
	uint64_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/*
 * Computes section offsets into hdr for layout version; returns the total
 * size. Layout 6 appends the live index to layout 5 (nothing moves, so a
 * layout-5 region grows into a layout-6 one in place).
 */
static uint64_t
layout(struct region_hdr_rec *h, const struct region_params *p,
    uint32_t version)
{
	uint64_t off = ALIGN_UP(sizeof(*h), SECTION_ALIGN);

	h->dev_off = off;
	off = ALIGN_UP(off + sizeof(struct region_dev_rec), SECTION_ALIGN);
	h->fuse_off = off;
	off = ALIGN_UP(off + sizeof(struct region_fuse_rec), SECTION_ALIGN);
	h->health_off = off;
	off = ALIGN_UP(off + sizeof(struct region_health_rec), SECTION_ALIGN);
	h->threads_off = off;
	off = ALIGN_UP(off + REGION_MAX_THREADS *
	    sizeof(struct region_thread_rec), SECTION_ALIGN);
	h->journal_off = off;
	off += (uint64_t)REGION_MAX_QUEUES * REGION_MAX_QUEUE_SIZE *
	    REGION_SLOT_SIZE;
	h->inode_cap = p->max_inodes;
	h->inode_off = off;
	off = ALIGN_UP(off + sizeof(struct inode_hdr_rec) +
	    h->inode_cap * sizeof(struct inode_rec), SECTION_ALIGN);
	h->ifh_off = off;
	off = ALIGN_UP(off + h->inode_cap * sizeof(struct inode_fh_rec),
	    SECTION_ALIGN);
	h->ihash_cap = pow2_at_least(2 * h->inode_cap);
	h->ihash_off = off;
	off = ALIGN_UP(off + h->ihash_cap * sizeof(uint64_t), SECTION_ALIGN);
	h->handle_cap = p->max_handles;
	h->handle_off = off;
	off = ALIGN_UP(off + sizeof(struct handle_hdr_rec) +
	    h->handle_cap * sizeof(struct handle_rec), SECTION_ALIGN);
	h->fdlist_cap = 64;
	h->fdlist_off = off;
	off = ALIGN_UP(off + h->fdlist_cap * sizeof(int64_t), SECTION_ALIGN);
	h->stats_off = off;
	off = ALIGN_UP(off + sizeof(struct region_stats_rec), SECTION_ALIGN);
	h->live_off = 0;
	if (version >= 6) {
		h->live_off = off;
		off = ALIGN_UP(off + REGION_LIVE_SIZE, SECTION_ALIGN);
	}
	return off;
}

static void
set_pointers(struct region *r)
{
	struct region_hdr_rec *h = r->hdr;

	r->dev = (struct region_dev_rec *)(r->base + h->dev_off);
	r->fuse = (struct region_fuse_rec *)(r->base + h->fuse_off);
	r->health = (struct region_health_rec *)(r->base + h->health_off);
	r->threads = (struct region_thread_rec *)(r->base + h->threads_off);
	r->journal = (struct journal_slot_rec *)(r->base + h->journal_off);
	r->ihdr = (struct inode_hdr_rec *)(r->base + h->inode_off);
	r->inodes = (struct inode_rec *)(r->ihdr + 1);
	r->ifh = (struct inode_fh_rec *)(r->base + h->ifh_off);
	r->ihash = (uint64_t *)(r->base + h->ihash_off);
	r->hhdr = (struct handle_hdr_rec *)(r->base + h->handle_off);
	r->handles = (struct handle_rec *)(r->hhdr + 1);
	r->fdlist = (int64_t *)(r->base + h->fdlist_off);
	r->stats = (struct region_stats_rec *)(r->base + h->stats_off);
	r->live = h->live_off != 0 ? r->base + h->live_off : NULL;
}

int
region_create(struct region *r, const struct region_params *p)
{
	uint32_t version = p->version ? p->version : REGION_LAYOUT_VERSION;
	struct region_hdr_rec h;
	uint64_t size;
	int fd, err;
	void *base;

	if (p->max_inodes < 1 || p->max_inodes > (1ULL << 31) ||
	    p->max_handles < 1 || p->max_handles > (1ULL << 31) ||
	    version < REGION_LAYOUT_OLDEST || version > REGION_LAYOUT_VERSION)
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	size = layout(&h, p, version);
	fd = memfd_create("phoenixfsd-state", MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		goto fail;
	if (fd != REGION_FD_STATE) {
		if (dup2(fd, REGION_FD_STATE) < 0)
			goto fail;
		close(fd);
		fd = REGION_FD_STATE;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto fail;

	memset(r, 0, sizeof(*r));
	r->base = base;
	r->size = size;
	r->hdr = base;
	h.magic = REGION_MAGIC;
	h.version = version;
	h.hdr_size = sizeof(h);
	h.size = size;
	h.config_digest = p->config_digest;
	memcpy(r->hdr, &h, sizeof(h));
	set_pointers(r);

	r->dev->nmem = 0;
	for (unsigned i = 0; i < REGION_MAX_MEM; i++)
		r->dev->mem[i].fd = -1;
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		r->dev->queue[q].kick_fd = -1;
		r->dev->queue[q].call_fd = -1;
		r->dev->queue[q].err_fd = -1;
	}
	for (unsigned i = 0; i < REGION_MAX_FDS; i++)
		r->dev->ctrl_fds[i] = -1;
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++)
		r->threads[i].ring_fd = -1;
	for (uint64_t i = 0; i < r->hdr->fdlist_cap; i++)
		r->fdlist[i] = -1;
	r->stats->start_ns = clock_now_ns();
	r->stats->start_real_s = (uint64_t)time(NULL);
	return 0;
fail:
	err = -errno;
	close(fd);
	return err;
}

static bool
section_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off % 8 == 0 && off <= size && len <= size - off;
}

int
region_attach(struct region *r, uint8_t *base, uint64_t size)
{
	const struct region_hdr_rec *h = (const void *)base;
	struct region_params p;
	struct region_hdr_rec want;

	if (size < sizeof(*h) || h->magic != REGION_MAGIC)
		return -EINVAL;
	if (h->version < REGION_LAYOUT_OLDEST ||
	    h->version > REGION_LAYOUT_VERSION || h->hdr_size != sizeof(*h))
		return -EPROTO;
	if (h->size != size || h->inode_cap < 1 || h->inode_cap > (1ULL << 31) ||
	    h->handle_cap < 1 || h->handle_cap > (1ULL << 31))
		return -EPROTO;
	/* The layout is a pure function of the capacities: recompute it. */
	memset(&want, 0, sizeof(want));
	p.max_inodes = h->inode_cap;
	p.max_handles = h->handle_cap;
	p.config_digest = 0;
	p.version = 0;
	if (layout(&want, &p, h->version) != size || want.dev_off != h->dev_off ||
	    want.fuse_off != h->fuse_off ||
	    want.health_off != h->health_off ||
	    want.threads_off != h->threads_off ||
	    want.journal_off != h->journal_off ||
	    want.inode_off != h->inode_off || want.ihash_off != h->ihash_off ||
	    want.ifh_off != h->ifh_off ||
	    want.ihash_cap != h->ihash_cap ||
	    want.handle_off != h->handle_off ||
	    want.fdlist_off != h->fdlist_off ||
	    want.fdlist_cap != h->fdlist_cap ||
	    want.stats_off != h->stats_off ||
	    want.live_off != h->live_off ||
	    !section_ok(h->fdlist_off, h->fdlist_cap * 8, size))
		return -EPROTO;
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->size = size;
	r->hdr = (struct region_hdr_rec *)base;
	set_pointers(r);
	return 0;
}

int
region_add_live(struct region *r, int fd)
{
	struct region_hdr_rec want;
	struct region_params p;
	uint64_t size;
	uint8_t *base, *live;

	if (r->hdr->version == REGION_LAYOUT_VERSION)
		return 0;
	if (r->hdr->version != 5)
		return -EPROTO;
	memset(&want, 0, sizeof(want));
	memset(&p, 0, sizeof(p));
	p.max_inodes = r->hdr->inode_cap;
	p.max_handles = r->hdr->handle_cap;
	size = layout(&want, &p, REGION_LAYOUT_VERSION);
	/* Map first: a mapping may run past the end of the file. */
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;

		munmap(base, size);
		return err;
	}
	/* The new section is a hole of the file: zero, nothing marked. */
	live = base + want.live_off;
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		uint64_t used = r->dev->queue[q].heads_used;

		used = MIN(used, (uint64_t)REGION_MAX_QUEUE_SIZE);
		/* pread: no page of a never-written slot allocated. */
		for (unsigned h = 0; h < used; h++)
			if (journal_state(region_slot_word(r, fd, q, h)) !=
			    JOURNAL_FREE)
				live[(size_t)q * REGION_MAX_QUEUE_SIZE + h] = 1;
	}
	/* Then the header, the version last (a reader of it sees it all). */
	((struct region_hdr_rec *)base)->threads_used = REGION_MAX_THREADS;
	((struct region_hdr_rec *)base)->live_off = want.live_off;
	((struct region_hdr_rec *)base)->size = size;
	__atomic_store_n(&((struct region_hdr_rec *)base)->version,
	    REGION_LAYOUT_VERSION, __ATOMIC_RELEASE);
	munmap(r->base, r->size);
	r->base = base;
	r->size = size;
	r->hdr = (struct region_hdr_rec *)base;
	set_pointers(r);
	return 0;
}

uint64_t
region_off(const struct region *r, const void *p)
{
	return (uint64_t)((const uint8_t *)p - r->base);
}

struct journal_slot_rec *
region_slot(const struct region *r, unsigned queue, unsigned head)
{
	if (queue >= REGION_MAX_QUEUES || head >= REGION_MAX_QUEUE_SIZE)
		return NULL;
	return &r->journal[(size_t)queue * REGION_MAX_QUEUE_SIZE + head];
}

bool
region_session_closed(const struct region *r)
{
	const struct region_fuse_rec *f = r->fuse;

	return region_load(&f->initialized) == 0 &&
	    (region_load(&f->destroyed) != 0 || region_load(&f->stopped) != 0);
}

uint64_t
region_slot_word(const struct region *r, int fd, unsigned queue,
    unsigned head)
{
	const struct journal_slot_rec *s = region_slot(r, queue, head);
	uint64_t w;

	if (fd < 0 || pread(fd, &w, sizeof(w), (off_t)region_off(r,
	    &s->word)) != (ssize_t)sizeof(w))
		w = region_load((uint64_t *)(uintptr_t)&s->word);
	return w;
}
