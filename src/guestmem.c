/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest memory mappings of one worker incarnation (DESIGN 4 step 2). The
 * memory table is state-region data; here it becomes immutable snapshots
 * that readers pin with a reference, so a table change (SET_MEM_TABLE,
 * ADD_MEM_REG, REM_MEM_REG) never unmaps memory a queue or pool thread is
 * still using: the last guestmem_put() of an old snapshot unmaps it. Every
 * guest address the daemon dereferences is translated here, with its length
 * checked against a single region.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "guestmem.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

static void
table_free(struct guestmem_table *t)
{
	for (unsigned i = 0; i < t->n; i++)
		if (t->m[i].mmap_addr != NULL)
			munmap(t->m[i].mmap_addr, t->m[i].mmap_len);
	free(t);
}

static uint64_t
fd_pagesize(int fd)
{
	struct statfs fs;
	long ps = sysconf(_SC_PAGESIZE);

	if (fstatfs(fd, &fs) == 0 && (unsigned long)fs.f_type == HUGETLBFS_MAGIC &&
	    fs.f_bsize > ps)
		return (uint64_t)fs.f_bsize;
	return ps > 0 ? (uint64_t)ps : 4096;
}

static bool
overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int
check_recs(const struct region_mem_rec *mem, unsigned n)
{
	if (n > REGION_MAX_MEM)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const struct region_mem_rec *m = &mem[i];
		uint64_t end;

		if (m->fd < 0 || m->fd > INT32_MAX || m->size == 0)
			return -EINVAL;
		if (__builtin_add_overflow(m->gpa, m->size, &end) ||
		    __builtin_add_overflow(m->uaddr, m->size, &end) ||
		    __builtin_add_overflow(m->mmap_offset, m->size, &end) ||
		    m->mmap_offset > (uint64_t)INT64_MAX ||
		    m->size > (uint64_t)SIZE_MAX / 2)
			return -EINVAL;
		for (unsigned j = 0; j < i; j++) {
			if (overlaps(m->gpa, m->size, mem[j].gpa, mem[j].size) ||
			    overlaps(m->uaddr, m->size, mem[j].uaddr,
				mem[j].size))
				return -EINVAL;
		}
	}
	return 0;
}

int
guestmem_build(const struct region_mem_rec *mem, unsigned n,
    struct guestmem_table **ret_table)
{
	struct guestmem_table *t;
	int r;

	r = check_recs(mem, n);
	if (r < 0)
		return r;
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->refs = 1;
	for (unsigned i = 0; i < n; i++) {
		const struct region_mem_rec *m = &mem[i];
		struct guestmem_map *g = &t->m[i];
		uint64_t ps = fd_pagesize((int)m->fd);
		uint64_t fd_off = m->mmap_offset & ~(ps - 1);
		uint64_t delta = m->mmap_offset - fd_off;
		uint64_t len = ALIGN_UP(m->size + delta, ps);
		void *p;

		struct stat st;

		/*
		 * Touching a shared mapping past the end of its file raises
		 * SIGBUS: the region must lie inside the file.
		 */
		if (len < m->size || fstat((int)m->fd, &st) < 0 ||
		    (S_ISREG(st.st_mode) &&
			m->mmap_offset + m->size > (uint64_t)st.st_size)) {
			table_free(t);
			return -EINVAL;
		}
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_NORESERVE, (int)m->fd, (off_t)fd_off);
		if (p == MAP_FAILED) {
			r = -errno;
			table_free(t);
			return r;
		}
		/* Not part of a core dump: guest RAM may be large/secret. */
		(void)madvise(p, len, MADV_DONTDUMP);
		g->gpa = m->gpa;
		g->size = m->size;
		g->uaddr = m->uaddr;
		g->fd = (int)m->fd;
		g->mmap_addr = p;
		g->mmap_len = len;
		g->hva = (uint8_t *)p + delta;
		t->n = i + 1;
	}
	*ret_table = t;
	return 0;
}

int
guestmem_init(struct guestmem *gm)
{
	memset(gm, 0, sizeof(*gm));
	pthread_mutex_init(&gm->lock, NULL);
	gm->cur = calloc(1, sizeof(*gm->cur));
	if (gm->cur == NULL)
		return -ENOMEM;
	gm->cur->refs = 1;
	return 0;
}

void
guestmem_fini(struct guestmem *gm)
{
	guestmem_put(gm->cur);
	gm->cur = NULL;
	pthread_mutex_destroy(&gm->lock);
}

void
guestmem_install(struct guestmem *gm, struct guestmem_table *t)
{
	struct guestmem_table *old;

	pthread_mutex_lock(&gm->lock);
	old = gm->cur;
	t->gen = gm->gen + 1;
	gm->cur = t;
	/* Readers poll gen without the lock; cur is read under it. */
	__atomic_store_n(&gm->gen, t->gen, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&gm->lock);
	guestmem_put(old);
}

int
guestmem_remap_from_region(struct guestmem *gm, const struct region *r)
{
	struct region_mem_rec recs[REGION_MAX_MEM];
	struct guestmem_table *t;
	unsigned n = 0;
	int rc;

	for (unsigned i = 0; i < REGION_MAX_MEM; i++) {
		struct region_mem_rec m = r->dev->mem[i];

		if (m.fd >= 0)
			recs[n++] = m;
	}
	rc = guestmem_build(recs, n, &t);
	if (rc < 0)
		return rc;
	guestmem_install(gm, t);
	return 0;
}

struct guestmem_table *
guestmem_get(struct guestmem *gm)
{
	struct guestmem_table *t;

	pthread_mutex_lock(&gm->lock);
	t = gm->cur;
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&gm->lock);
	return t;
}

struct guestmem_table *
guestmem_ref(struct guestmem_table *t)
{
	__atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
	return t;
}

void
guestmem_put(struct guestmem_table *t)
{
	if (t == NULL)
		return;
	/* acq_rel: the last putter sees every reader's accesses done. */
	if (__atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
		table_free(t);
}

uint64_t
guestmem_gen(struct guestmem *gm)
{
	return __atomic_load_n(&gm->gen, __ATOMIC_ACQUIRE);
}

void *
guestmem_gpa_span(const struct guestmem_table *t, uint64_t gpa, uint64_t len,
    uint64_t *ret_len)
{
	uint64_t end;

	if (len == 0 || __builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (unsigned i = 0; i < t->n; i++) {
		const struct guestmem_map *g = &t->m[i];
		uint64_t off, room;

		if (gpa < g->gpa || gpa - g->gpa >= g->size)
			continue;
		off = gpa - g->gpa;
		room = g->size - off;
		*ret_len = MIN(len, room);
		return g->hva + off;
	}
	return NULL;
}

void *
guestmem_gpa(const struct guestmem_table *t, uint64_t gpa, uint64_t len)
{
	uint64_t got;
	void *p = guestmem_gpa_span(t, gpa, len, &got);

	return p != NULL && got == len ? p : NULL;
}

void *
guestmem_uaddr(const struct guestmem_table *t, uint64_t uaddr, uint64_t len)
{
	uint64_t end;

	if (len == 0 || __builtin_add_overflow(uaddr, len, &end))
		return NULL;
	for (unsigned i = 0; i < t->n; i++) {
		const struct guestmem_map *g = &t->m[i];

		if (uaddr < g->uaddr || uaddr - g->uaddr >= g->size)
			continue;
		if (len > g->size - (uaddr - g->uaddr))
			return NULL;
		return g->hva + (uaddr - g->uaddr);
	}
	return NULL;
}
