/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue (virtio 1.0 section 2.6) over guest memory snapshots:
 * the consumer side (avail ring, bounded descriptor walk) and the producer
 * side (used ring, with the publish record of DESIGN 3 step 5 and its
 * settling by recovery, DESIGN 4 step 3). Every field the guest can change
 * is read once into a local (copy + compiler barrier, or an atomic load):
 * validation and use see the same value. Ring pointers come from one
 * guestmem_table reference, so they stay mapped while a struct vring_queue
 * holds it.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <linux/virtio_ring.h>

#include "crashpoint.h"
#include "journal.h"
#include "vring.h"
#include "phase.h"
#include "vu_proto.h"

/* Forbids the compiler to re-read guest memory for an earlier copy. */
#define compiler_barrier() __asm__ __volatile__("" ::: "memory")

/* ---- guest memory accessors (little-endian, naturally aligned) ------ */

static inline uint16_t
ld16(const uint8_t *p)
{
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
	    __ATOMIC_RELAXED));
}

static inline void
st16(uint8_t *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)(void *)p, htole16(v), __ATOMIC_RELAXED);
}

static inline void
st32(uint8_t *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)(void *)p, htole32(v), __ATOMIC_RELAXED);
}

#define AVAIL_FLAGS(vr)	   ((vr)->avail + 0)
#define AVAIL_IDX(vr)	   ((vr)->avail + 2)
#define AVAIL_RING(vr, i)  ((vr)->avail + 4 + 2 * (size_t)(i))
#define USED_EVENT(vr)	   AVAIL_RING(vr, (vr)->num)
#define USED_FLAGS(vr)	   ((vr)->used + 0)
#define USED_IDX(vr)	   ((vr)->used + 2)
#define USED_RING(vr, i)   ((vr)->used + 4 + 8 * (size_t)(i))
#define AVAIL_EVENT(vr)	   USED_RING(vr, (vr)->num)

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static inline void
read_desc(const uint8_t *p, struct desc *d)
{
	struct vring_desc raw;

	memcpy(&raw, p, sizeof(raw));
	compiler_barrier();
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

/* ---- attach --------------------------------------------------------- */

int
vring_attach(struct vring_queue *vr, struct region *r, unsigned q,
    struct guestmem_table *gt, uint64_t features)
{
	const struct region_queue_rec *rec;
	uint64_t num;
	uint8_t *d, *a, *u;

	vring_detach(vr);
	if (q >= REGION_MAX_QUEUES)
		return -EINVAL;
	rec = &r->dev->queue[q];
	num = rec->num;
	if (num == 0 || num > REGION_MAX_QUEUE_SIZE || (num & (num - 1)))
		return -EINVAL;
	if (rec->desc_uaddr % 16 || rec->avail_uaddr % 2 || rec->used_uaddr % 4)
		return -EINVAL;
	d = guestmem_uaddr(gt, rec->desc_uaddr, 16 * num);
	a = guestmem_uaddr(gt, rec->avail_uaddr, 6 + 2 * num);
	u = guestmem_uaddr(gt, rec->used_uaddr, 6 + 8 * num);
	if (d == NULL || a == NULL || u == NULL)
		return -EINVAL;
	vr->r = r;
	vr->rec = &r->dev->queue[q];
	vr->qidx = q;
	vr->num = (uint16_t)num;
	vr->event_idx = features & (1ULL << VU_F_EVENT_IDX);
	vr->indirect = features & (1ULL << VU_F_INDIRECT_DESC);
	vr->desc = d;
	vr->avail = a;
	vr->used = u;
	vr->gt = guestmem_ref(gt);
	return 0;
}

void
vring_detach(struct vring_queue *vr)
{
	guestmem_put(vr->gt);
	vr->gt = NULL;
	vr->desc = vr->avail = vr->used = NULL;
}

/* ---- consumer side ------------------------------------------------- */

uint16_t
vring_avail_idx(const struct vring_queue *vr)
{
	/*
	 * Acquire: ring entries and descriptors read after this are at least
	 * as new as the index (pairs with the driver's write barrier before
	 * it stores avail->idx).
	 */
	return le16toh(__atomic_load_n((const uint16_t *)(const void *)
	    AVAIL_IDX(vr), __ATOMIC_ACQUIRE));
}

uint16_t
vring_used_idx_guest(const struct vring_queue *vr)
{
	return ld16(USED_IDX(vr));
}

int
vring_avail_count(const struct vring_queue *vr, uint16_t last_avail, uint16_t *ret_n)
{
	uint16_t n = (uint16_t)(vring_avail_idx(vr) - last_avail);

	if (n > vr->num)
		return -EPROTO;
	*ret_n = n;
	return 0;
}

int
vring_avail_head(const struct vring_queue *vr, uint16_t pos, uint16_t *ret_head)
{
	uint16_t head = ld16(AVAIL_RING(vr, pos % vr->num));

	if (head >= vr->num)
		return -EPROTO;
	*ret_head = head;
	return 0;
}

/* Maps [addr, addr + len) as one or more iovecs (split at region ends). */
static int
add_buf(const struct vring_queue *vr, struct vring_chain *c, uint64_t addr,
    uint32_t len, bool wr)
{
	uint64_t left = len;

	while (left > 0) {
		uint64_t got;
		void *p = guestmem_gpa_span(vr->gt, addr, left, &got);
		struct iovec *v;

		if (p == NULL)
			return -EFAULT;
		if (c->nrd + c->nwr >= c->max)
			return -E2BIG;
		v = &c->iov[c->nrd + c->nwr];
		v->iov_base = p;
		v->iov_len = got;
		if (wr)
			c->nwr++;
		else
			c->nrd++;
		addr += got;
		left -= got;
	}
	if (wr)
		c->wr_len += len;
	else
		c->rd_len += len;
	return 0;
}

int
vring_walk(const struct vring_queue *vr, uint16_t head, struct vring_chain *c)
{
	const uint8_t *tab = vr->desc;
	unsigned max = vr->num, i = head, seen = 0;
	bool in_indirect = false;
	int r;

	c->nrd = c->nwr = 0;
	c->rd_len = c->wr_len = 0;
	if (head >= vr->num)
		return -EPROTO;
	for (;;) {
		struct desc d;

		read_desc(tab + 16 * (size_t)i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			/*
			 * Only as the whole chain (head of the ring chain,
			 * without NEXT), once, if negotiated.
			 */
			if (!vr->indirect || in_indirect || seen != 0 ||
			    (d.flags & VRING_DESC_F_NEXT))
				return -EPROTO;
			if (d.len == 0 || d.len % 16 ||
			    d.len / 16 > VRING_MAX_INDIRECT)
				return -EPROTO;
			tab = guestmem_gpa(vr->gt, d.addr, d.len);
			if (tab == NULL)
				return -EFAULT;
			max = d.len / 16;
			i = 0;
			in_indirect = true;
			continue;
		}
		/* A chain visits each descriptor at most once: else a loop. */
		if (++seen > max)
			return -EPROTO;
		if (d.len == 0)
			return -EPROTO;
		if (d.flags & VRING_DESC_F_WRITE) {
			r = add_buf(vr, c, d.addr, d.len, true);
		} else {
			if (c->nwr > 0)
				return -EPROTO; /* readable after writable */
			r = add_buf(vr, c, d.addr, d.len, false);
		}
		if (r < 0)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
		if (i >= max)
			return -EPROTO;
	}
}

size_t
vring_copy_readable(const struct vring_chain *c, void *dst, size_t max)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->nrd && done < max; i++) {
		size_t n = MIN(c->iov[i].iov_len, max - done);

		memcpy((uint8_t *)dst + done, c->iov[i].iov_base, n);
		done += n;
	}
	return done;
}

/* ---- producer side ------------------------------------------------- */

bool
vring_event_needed(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) <
	    (uint16_t)(new_idx - old_idx);
}

static bool
want_notify(const struct vring_queue *vr, uint16_t old, uint16_t new)
{
	/*
	 * Full barrier: our used->idx store must be visible before we read
	 * used_event / avail->flags, pairing with the driver's barrier
	 * between writing used_event (or clearing its flag) and re-reading
	 * used->idx. Else both sides could miss each other and the guest
	 * sleeps on a completion it never hears about.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vr->event_idx)
		return vring_event_needed(ld16(USED_EVENT(vr)), new, old);
	return !(ld16(AVAIL_FLAGS(vr)) & VRING_AVAIL_F_NO_INTERRUPT);
}

static void
free_slot(struct vring_queue *vr, uint32_t head)
{
	struct journal_slot_rec *s = region_slot(vr->r, vr->qidx, head);
	uint64_t w;

	if (s == NULL)
		return;
	w = region_load(&s->word);
	if (journal_state(w) != JOURNAL_FREE)
		region_store(&s->word, journal_with_state(w, JOURNAL_FREE));
	/* Only after the free: a kill between them leaves a harmless mark. */
	CRASHPOINT("vring.after_free");
	region_live_clear(vr->r, vr->qidx, head);
}

bool
vring_push(struct vring_queue *vr, const struct vring_used_ent *e, unsigned n)
{
	struct region_publish_rec *pub = &vr->rec->publish;
	uint16_t old = (uint16_t)vr->rec->used_idx, new;

	if (n == 0)
		return false;
	if (n > vr->num)
		n = vr->num; /* cannot happen: at most num heads in flight */
	new = (uint16_t)(old + n);
	/* 1. the used elements, invisible until used->idx moves. */
	for (unsigned k = 0; k < n; k++) {
		uint8_t *el = USED_RING(vr, (uint16_t)(old + k) % vr->num);

		st32(el, e[k].id);
		st32(el + 4, e[k].len);
	}
	/* 2. the publish record; active last (release: record before it). */
	pub->first = old;
	pub->count = n;
	for (unsigned k = 0; k < n; k++)
		pub->elem[k] = (uint64_t)e[k].id | (uint64_t)e[k].len << 32;
	region_store(&pub->active, 1);
	/*
	 * 3. free the slots: the guest may re-post a head as soon as it sees
	 * used->idx, and the next pop must find its slot FREE. The publish
	 * record now holds the completions the slots held.
	 */
	if (!vr->no_slots)
		for (unsigned k = 0; k < n; k++)
			free_slot(vr, e[k].id);
	CRASHPOINT("vring.before_used_idx");
	/*
	 * 4. Release: the elements are visible before the index (pairs with
	 * the driver's read barrier after it loads used->idx).
	 */
	__atomic_store_n((uint16_t *)(void *)USED_IDX(vr), htole16(new),
	    __ATOMIC_RELEASE);
	region_store(&vr->rec->used_idx, new);
	region_store(&pub->active, 0);
	phase_mark_once(PHASE_W_PUSH);
	return want_notify(vr, old, new);
}

int
vring_notify(const struct vring_queue *vr)
{
	int fd = (int)__atomic_load_n(&vr->rec->call_fd, __ATOMIC_ACQUIRE);
	uint64_t one = 1;

	if (fd < 0)
		return 0;
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

bool
vring_prepare_sleep(const struct vring_queue *vr, uint16_t last_avail)
{
	if (vr->event_idx)
		st16(AVAIL_EVENT(vr), last_avail);
	else
		st16(USED_FLAGS(vr), 0);
	/*
	 * Full barrier: avail_event / the cleared flag is visible before we
	 * re-read avail->idx, pairing with the driver's barrier between its
	 * avail->idx store and its read of avail_event / used->flags.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vring_avail_idx(vr) == last_avail;
}

void
vring_suppress_kicks(const struct vring_queue *vr)
{
	if (!vr->event_idx)
		st16(USED_FLAGS(vr), VRING_USED_F_NO_NOTIFY);
}

int
vring_settle_publish(struct vring_queue *vr)
{
	struct region_publish_rec *pub = &vr->rec->publish;
	uint16_t first, count, guest, d;

	if (region_load(&pub->active) == 0) {
		/* No push in flight: guest used->idx must equal the shadow. */
		if (vring_used_idx_guest(vr) != (uint16_t)vr->rec->used_idx)
			__atomic_store_n((uint16_t *)(void *)USED_IDX(vr),
			    htole16((uint16_t)vr->rec->used_idx),
			    __ATOMIC_RELEASE);
		return 0;
	}
	if (pub->count == 0 || pub->count > vr->num || pub->first > 0xffff) {
		region_store(&pub->active, 0);
		return -EPROTO;
	}
	first = (uint16_t)pub->first;
	count = (uint16_t)pub->count;
	guest = vring_used_idx_guest(vr);
	d = (uint16_t)(guest - first);
	if (d >= count && d <= vr->num) {
		/* Published: the guest saw it; slots were freed before. */
		region_store(&vr->rec->used_idx, (uint16_t)(first + count));
		region_store(&pub->active, 0);
		return 0;
	}
	/* Not published: the guest saw nothing; write it all again. */
	for (unsigned k = 0; k < count; k++) {
		uint64_t el = pub->elem[k];
		uint32_t id = (uint32_t)el, len = (uint32_t)(el >> 32);
		uint8_t *u = USED_RING(vr, (uint16_t)(first + k) % vr->num);

		if (id >= vr->num)
			id = 0; /* corrupt record: keep the ring well-formed */
		st32(u, id);
		st32(u + 4, len);
		free_slot(vr, id);
	}
	__atomic_store_n((uint16_t *)(void *)USED_IDX(vr),
	    htole16((uint16_t)(first + count)), __ATOMIC_RELEASE);
	region_store(&vr->rec->used_idx, (uint16_t)(first + count));
	region_store(&pub->active, 0);
	return 1;
}
