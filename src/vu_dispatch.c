/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user request handlers. Each handler reads the message from the
 * region (ctrl_hdr, ctrl_payload, ctrl_fds), checks its size, fd count and
 * queue index, and records every device-state effect through one redo
 * transaction that also moves the message to HANDLED with its reply: a
 * crash before the commit leaves the region as it was and the message is
 * handled again; after it, only the reply remains to be sent. Heap-side
 * effects before the commit (stopping a queue thread, mapping a new memory
 * table) are idempotent; those after it (starting threads, installing the
 * table) are re-derived from the region by a new worker's recovery.
 * Fds a message replaces, and message fds not kept, are closed after the
 * commit. Nothing here trusts the peer: a bad message gets a failure reply
 * (REPLY_ACK) or is refused, never a crash.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fault.h"
#include "log.h"
#include "redo.h"
#include "vu_dispatch.h"
#include "vu_proto.h"

enum vu_reply {
	VU_REPLY_NONE,		/* refused without a reply (logged) */
	VU_REPLY_ACK,		/* status as u64 if REPLY_ACK + NEED_REPLY */
	VU_REPLY_DATA,		/* the handler's reply payload, always */
};

struct vu_ctx {
	struct vu_dev *dev;
	struct region_dev_rec *d;
	struct redo_txn tx;
	struct vu_hdr hdr;
	const uint8_t *payload;
	int fds[REGION_MAX_FDS];
	bool kept[REGION_MAX_FDS]; /* fd recorded in the region by the txn */
	unsigned nfds;
	int status;		/* 0 or -errno: the ACK */
	bool txfail;
	uint8_t reply[64];
	uint32_t reply_size;
	/* after the commit */
	uint32_t start_mask;	/* queues to start */
	int unlock_push;	/* queue whose push lock we hold, or -1 */
	struct guestmem_table *install; /* new memory table, or NULL */
};

typedef enum vu_reply vu_handler_fn(struct vu_ctx *c);

uint64_t
vu_offered_features(void)
{
	return 1ULL << VU_F_VERSION_1 | 1ULL << VU_F_INDIRECT_DESC |
	    1ULL << VU_F_EVENT_IDX | 1ULL << VU_F_PROTOCOL_FEATURES;
}

uint64_t
vu_offered_protocol_features(void)
{
	return 1ULL << VU_PF_MQ | 1ULL << VU_PF_REPLY_ACK |
	    1ULL << VU_PF_RESET_DEVICE | 1ULL << VU_PF_CONFIGURE_MEM_SLOTS;
}

/* ---- helpers --------------------------------------------------------- */

static void
set(struct vu_ctx *c, const void *field, uint64_t v)
{
	if (redo_set(&c->tx, field, v) < 0)
		c->txfail = true;
}

static uint64_t
get(const struct vu_ctx *c, const void *field)
{
	return redo_get(&c->tx, field);
}

static void
close_after(struct vu_ctx *c, int64_t fd)
{
	if (fd >= 0 && redo_close_after(&c->tx, (int)fd) < 0)
		c->txfail = true;
}

static enum vu_reply
reply_u64(struct vu_ctx *c, uint64_t v)
{
	memcpy(c->reply, &v, 8);
	c->reply_size = 8;
	return VU_REPLY_DATA;
}

static uint64_t
payload_u64(const struct vu_ctx *c)
{
	uint64_t v;

	memcpy(&v, c->payload, 8);
	return v;
}

static enum vu_reply
fail(struct vu_ctx *c, int err)
{
	c->status = err;
	return VU_REPLY_ACK;
}

/*
 * The queue index of a vring message, or -EINVAL. Every queue the region
 * has room for is served, not only the GET_QUEUE_NUM we advertise: QEMU
 * 7.2 does not check num-request-queues against it, and refusing a queue
 * it set up would hang its GET_VRING_BASE at shutdown.
 */
static int
vq_index(const struct vu_ctx *c, uint32_t index)
{
	(void)c;
	return index < REGION_MAX_QUEUES ? (int)index : -EINVAL;
}

static uint64_t
features(const struct vu_ctx *c)
{
	return get(c, &c->d->features);
}

/*
 * The ring GET_VRING_BASE stopped goes on: the front end starts it at the
 * base we answered and its used index is the one we last stored. QEMU
 * does so on cont after stop (vhost_dev_stop: GET_VRING_BASE, whose base
 * it keeps as last_avail_idx; vhost_dev_start: SET_VRING_BASE with it,
 * ADDR, KICK, CALL, ENABLE). A reset starts at base 0 on zeroed rings
 * (used index 0): it passes only if base and used index were both 0,
 * nothing in flight (in flight = base - used index, at most the ring
 * size), when going on and starting anew are the same.
 */
static bool
ring_goes_on(struct vu_ctx *c, unsigned q, uint16_t used_idx)
{
	struct region_queue_rec *rec = &c->d->queue[q];
	uint64_t sb = get(c, &rec->stop_base);

	return sb != 0 && (uint16_t)sb == (uint16_t)get(c, &rec->base) &&
	    used_idx == (uint16_t)get(c, &rec->used_idx) &&
	    get(c, &rec->publish.active) == 0;
}

/*
 * Starts queue q's ring: the same ring again after a pause (same epoch:
 * its heads in flight, lock waits, stay live and answer into it), or a
 * fresh ring epoch at its base, whose old lock waits end first.
 */
static int
start_ring(struct vu_ctx *c, unsigned q)
{
	struct region_queue_rec *rec = &c->d->queue[q];
	struct guestmem_table *gt = guestmem_get(&c->dev->gm);
	uint64_t num = get(c, &rec->num);
	uint8_t *used = NULL;
	uint16_t used_idx;

	if (num != 0)
		used = guestmem_uaddr(gt, get(c, &rec->used_uaddr), 6 + 8 * num);
	if (used == NULL || guestmem_uaddr(gt, get(c, &rec->desc_uaddr),
	    16 * num) == NULL || guestmem_uaddr(gt, get(c, &rec->avail_uaddr),
	    6 + 2 * num) == NULL) {
		guestmem_put(gt);
		return -EINVAL;
	}
	memcpy(&used_idx, used + 2, 2);
	guestmem_put(gt);
	used_idx = le16toh(used_idx);
	if (!ring_goes_on(c, q, used_idx)) {
		/*
		 * Their heads are not the new ring's: ended, completions
		 * deferred in the old epoch and dropped (queue.h), before a
		 * head of the new ring can reuse their journal slots.
		 */
		queue_end_waits(c->dev->qs, q);
		set(c, &rec->epoch, get(c, &rec->epoch) + 1);
	} else {
		log_info("queue %u: the ring stopped at %u goes on", q,
		    (unsigned)used_idx);
	}
	set(c, &rec->stop_base, 0);
	set(c, &rec->used_idx, used_idx);
	set(c, &rec->publish.active, 0);
	set(c, &rec->broken, 0);
	set(c, &rec->started, 1);
	/* Without PROTOCOL_FEATURES a ring starts enabled (vhost-user). */
	if (!(features(c) & 1ULL << VU_F_PROTOCOL_FEATURES))
		set(c, &rec->enabled, 1);
	return 0;
}

/* ---- handlers -------------------------------------------------------- */

static enum vu_reply
h_get_features(struct vu_ctx *c)
{
	return reply_u64(c, vu_offered_features());
}

static enum vu_reply
h_set_features(struct vu_ctx *c)
{
	uint64_t v = payload_u64(c);

	set(c, &c->d->features, v & vu_offered_features());
	return v & ~vu_offered_features() ? fail(c, -EINVAL) : VU_REPLY_ACK;
}

static enum vu_reply
h_get_protocol_features(struct vu_ctx *c)
{
	return reply_u64(c, vu_offered_protocol_features());
}

static enum vu_reply
h_set_protocol_features(struct vu_ctx *c)
{
	uint64_t v = payload_u64(c);

	set(c, &c->d->protocol_features, v & vu_offered_protocol_features());
	return v & ~vu_offered_protocol_features() ? fail(c, -EINVAL) :
	    VU_REPLY_ACK;
}

static enum vu_reply
h_set_owner(struct vu_ctx *c)
{
	set(c, &c->d->owner, 1);
	return VU_REPLY_ACK;
}

/*
 * The device stopped (DESIGN 7): the guest session may be over. Marks
 * the FUSE session so that the next INIT, the first request of a new
 * guest kernel, ends it (fdispatch.c). A stop that is not a reset (a VM
 * paused and continued, a migration's stop) leaves the mark unused: the
 * old session goes on, and only a new INIT would end it.
 */
static void
mark_stopped(struct vu_ctx *c)
{
	struct region_fuse_rec *f = c->dev->r->fuse;

	if (get(c, &f->initialized) != 0 && get(c, &f->stopped) == 0)
		set(c, &f->stopped, 1);
}

/* RESET_OWNER and RESET_DEVICE: every ring stopped and forgotten. */
static enum vu_reply
h_reset(struct vu_ctx *c)
{
	queue_stop_all(c->dev->qs);
	CRASHPOINT("vu.reset_stopped");
	mark_stopped(c);
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		struct region_queue_rec *rec = &c->d->queue[q];

		close_after(c, rec->kick_fd);
		close_after(c, rec->call_fd);
		close_after(c, rec->err_fd);
		set(c, &rec->kick_fd, (uint64_t)-1);
		set(c, &rec->call_fd, (uint64_t)-1);
		set(c, &rec->err_fd, (uint64_t)-1);
		set(c, &rec->started, 0);
		set(c, &rec->enabled, 0);
		set(c, &rec->broken, 0);
		set(c, &rec->num, 0);
		set(c, &rec->base, 0);
		set(c, &rec->last_avail_idx, 0);
		set(c, &rec->used_idx, 0);
		set(c, &rec->publish.active, 0);
		set(c, &rec->stop_base, 0);
		set(c, &rec->epoch, get(c, &rec->epoch) + 1);
	}
	return VU_REPLY_ACK;
}

/* Records recs[0..n) as the whole memory table; maps it for install. */
static enum vu_reply
set_table(struct vu_ctx *c, const struct region_mem_rec *recs, unsigned n,
    const int64_t *old_fds, unsigned nold)
{
	int err = guestmem_build(recs, n, &c->install);

	if (err < 0) {
		c->install = NULL;
		return fail(c, err);
	}
	for (unsigned i = 0; i < REGION_MAX_MEM; i++) {
		struct region_mem_rec *m = &c->d->mem[i];
		struct region_mem_rec z = { 0, 0, 0, 0, -1 };
		const struct region_mem_rec *s = i < n ? &recs[i] : &z;

		set(c, &m->gpa, s->gpa);
		set(c, &m->size, s->size);
		set(c, &m->uaddr, s->uaddr);
		set(c, &m->mmap_offset, s->mmap_offset);
		set(c, &m->fd, (uint64_t)s->fd);
	}
	set(c, &c->d->nmem, n);
	for (unsigned i = 0; i < nold; i++) {
		bool still = false;

		for (unsigned j = 0; j < n; j++)
			still |= recs[j].fd == old_fds[i];
		if (!still)
			close_after(c, old_fds[i]);
	}
	return VU_REPLY_ACK;
}

/* The recorded table, compacted; old fds listed too. */
static unsigned
current_table(const struct vu_ctx *c, struct region_mem_rec *recs)
{
	unsigned n = 0;

	for (unsigned i = 0; i < REGION_MAX_MEM; i++)
		if (c->d->mem[i].fd >= 0)
			recs[n++] = c->d->mem[i];
	return n;
}

static bool
region_ok(const struct vu_mem_region *m)
{
	uint64_t end;

	return m->size > 0 && !__builtin_add_overflow(m->gpa, m->size, &end) &&
	    !__builtin_add_overflow(m->uaddr, m->size, &end) &&
	    !__builtin_add_overflow(m->mmap_offset, m->size, &end);
}

static enum vu_reply
h_set_mem_table(struct vu_ctx *c)
{
	struct region_mem_rec recs[REGION_MAX_MEM], old[REGION_MAX_MEM];
	int64_t old_fds[REGION_MAX_MEM];
	struct vu_mem_table t;
	unsigned nold;

	if (c->hdr.size < 8)
		return fail(c, -EINVAL);
	memset(&t, 0, sizeof(t));
	memcpy(&t, c->payload, MIN(c->hdr.size, sizeof(t)));
	if (t.nregions == 0 || t.nregions > VU_MEM_BASELINE_NREGIONS ||
	    c->hdr.size != 8 + 32 * t.nregions || c->nfds != t.nregions)
		return fail(c, -EINVAL);
	for (unsigned i = 0; i < t.nregions; i++) {
		if (!region_ok(&t.regions[i]))
			return fail(c, -EINVAL);
		recs[i] = (struct region_mem_rec){ t.regions[i].gpa,
			t.regions[i].size, t.regions[i].uaddr,
			t.regions[i].mmap_offset, c->fds[i] };
	}
	nold = current_table(c, old);
	for (unsigned i = 0; i < nold; i++)
		old_fds[i] = old[i].fd;
	if (set_table(c, recs, t.nregions, old_fds, nold) == VU_REPLY_ACK &&
	    c->status == 0)
		for (unsigned i = 0; i < t.nregions; i++)
			c->kept[i] = true;
	return VU_REPLY_ACK;
}

static enum vu_reply
h_add_mem_reg(struct vu_ctx *c)
{
	struct region_mem_rec recs[REGION_MAX_MEM + 1];
	struct vu_mem_reg m;
	unsigned n;

	memcpy(&m, c->payload, sizeof(m));
	if (c->nfds != 1 || !region_ok(&m.region))
		return fail(c, -EINVAL);
	n = current_table(c, recs);
	for (unsigned i = 0; i < n; i++)
		if (recs[i].gpa == m.region.gpa &&
		    recs[i].size == m.region.size &&
		    recs[i].uaddr == m.region.uaddr)
			return VU_REPLY_ACK; /* already there: fd closed */
	if (n >= REGION_MAX_MEM)
		return fail(c, -ENOSPC);
	recs[n] = (struct region_mem_rec){ m.region.gpa, m.region.size,
		m.region.uaddr, m.region.mmap_offset, c->fds[0] };
	set_table(c, recs, n + 1, NULL, 0);
	if (c->status == 0)
		c->kept[0] = true;
	return VU_REPLY_ACK;
}

static enum vu_reply
h_rem_mem_reg(struct vu_ctx *c)
{
	struct region_mem_rec recs[REGION_MAX_MEM];
	struct vu_mem_reg m;
	int64_t gone;
	unsigned n, k;

	memcpy(&m, c->payload, sizeof(m));
	if (c->nfds > 1)
		return fail(c, -EINVAL);
	n = current_table(c, recs);
	for (k = 0; k < n; k++)
		if (recs[k].gpa == m.region.gpa &&
		    recs[k].size == m.region.size)
			break;
	if (k == n)
		return fail(c, -ENOENT);
	gone = recs[k].fd;
	memmove(&recs[k], &recs[k + 1], (n - k - 1) * sizeof(recs[0]));
	return set_table(c, recs, n - 1, &gone, 1);
}

static enum vu_reply
h_get_max_mem_slots(struct vu_ctx *c)
{
	return reply_u64(c, REGION_MAX_MEM);
}

static enum vu_reply
h_set_vring_num(struct vu_ctx *c)
{
	struct vu_vring_state s;
	int q;

	memcpy(&s, c->payload, sizeof(s));
	q = vq_index(c, s.index);
	if (q < 0 || s.num == 0 || s.num > REGION_MAX_QUEUE_SIZE ||
	    (s.num & (s.num - 1)))
		return fail(c, -EINVAL);
	if (queue_running(c->dev->qs, (unsigned)q))
		return fail(c, -EBUSY);
	set(c, &c->d->queue[q].num, s.num);
	return VU_REPLY_ACK;
}

static enum vu_reply
h_set_vring_addr(struct vu_ctx *c)
{
	struct vu_vring_addr a;
	struct region_queue_rec *rec;
	int q;

	memcpy(&a, c->payload, sizeof(a));
	q = vq_index(c, a.index);
	if (q < 0)
		return fail(c, -EINVAL);
	rec = &c->d->queue[q];
	/* Running: the new addresses take effect at a restart. */
	if (queue_running(c->dev->qs, (unsigned)q)) {
		queue_stop(c->dev->qs, (unsigned)q);
		c->start_mask |= 1u << q;
	}
	set(c, &rec->desc_uaddr, a.desc_uaddr);
	set(c, &rec->avail_uaddr, a.avail_uaddr);
	set(c, &rec->used_uaddr, a.used_uaddr);
	return VU_REPLY_ACK;
}

static enum vu_reply
h_set_vring_base(struct vu_ctx *c)
{
	struct vu_vring_state s;
	int q;

	memcpy(&s, c->payload, sizeof(s));
	q = vq_index(c, s.index);
	if (q < 0 || s.num > 0xffff)
		return fail(c, -EINVAL);
	if (queue_running(c->dev->qs, (unsigned)q))
		return fail(c, -EBUSY);
	set(c, &c->d->queue[q].base, s.num);
	set(c, &c->d->queue[q].last_avail_idx, s.num);
	return VU_REPLY_ACK;
}

static enum vu_reply
h_get_vring_base(struct vu_ctx *c)
{
	struct vu_vring_state s;
	struct region_queue_rec *rec;
	int q;

	memcpy(&s, c->payload, sizeof(s));
	q = vq_index(c, s.index);
	if (q < 0) {
		/* No base to give: a made-up one would be worse than none. */
		log_warnx("vhost-user GET_VRING_BASE: queue %u refused",
		    s.index);
		c->status = -EINVAL;
		return VU_REPLY_NONE;
	}
	rec = &c->d->queue[q];
	/*
	 * Drain: every popped request finished and pushed, but for lock
	 * waits, which go on (a VM pause; queue.h): their heads count as
	 * popped in the base, and answer when the ring goes on.
	 */
	queue_stop(c->dev->qs, (unsigned)q);
	/* Tests: a kill during the stop, :N between rings (reboot.sh). */
	CRASHPOINT("vu.get_vring_base");
	DELAYPOINT("vu.get_vring_base");
	mark_stopped(c);
	s.num = (uint32_t)(uint16_t)region_load(&rec->last_avail_idx);
	/* Only a ring that was started can go on. */
	if (get(c, &rec->started) != 0 || get(c, &rec->stop_base) != 0)
		set(c, &rec->stop_base, 0x10000 | s.num);
	set(c, &rec->started, 0);
	set(c, &rec->base, s.num);
	close_after(c, rec->kick_fd);
	close_after(c, rec->call_fd);
	set(c, &rec->kick_fd, (uint64_t)-1);
	set(c, &rec->call_fd, (uint64_t)-1);
	memcpy(c->reply, &s, sizeof(s));
	c->reply_size = sizeof(s);
	return VU_REPLY_DATA;
}

/* KICK, CALL, ERR: u64 = index | NOFD flag, fd unless NOFD. */
static int
vring_fd_msg(struct vu_ctx *c, int *ret_fd)
{
	uint64_t v = payload_u64(c);
	bool nofd = v & VU_VRING_NOFD;
	int q = vq_index(c, (uint32_t)(v & VU_VRING_IDX_MASK));

	if (q < 0 || (v & ~(uint64_t)(VU_VRING_IDX_MASK | VU_VRING_NOFD)) ||
	    c->nfds != (nofd ? 0u : 1u))
		return -EINVAL;
	*ret_fd = nofd ? -1 : c->fds[0];
	if (!nofd)
		c->kept[0] = true;
	return q;
}

static enum vu_reply
h_set_vring_kick(struct vu_ctx *c)
{
	struct region_queue_rec *rec;
	int q, fd, err;

	q = vring_fd_msg(c, &fd);
	if (q < 0)
		return fail(c, q);
	rec = &c->d->queue[q];
	queue_stop(c->dev->qs, (unsigned)q);
	close_after(c, rec->kick_fd);
	set(c, &rec->kick_fd, (uint64_t)(int64_t)fd);
	err = start_ring(c, (unsigned)q);
	if (err < 0) {
		/* Recorded but not started: the rings do not map (yet). */
		set(c, &rec->started, 0);
		return fail(c, err);
	}
	c->start_mask |= 1u << q;
	return VU_REPLY_ACK;
}

static enum vu_reply
h_set_vring_call(struct vu_ctx *c)
{
	struct region_queue_rec *rec;
	int q, fd;

	q = vring_fd_msg(c, &fd);
	if (q < 0)
		return fail(c, q);
	rec = &c->d->queue[q];
	/*
	 * Held until after the commit and the close of the old fd: no
	 * notification can go to the old number once it may be reused.
	 */
	queue_lock_push(c->dev->qs, (unsigned)q);
	c->unlock_push = q;
	close_after(c, rec->call_fd);
	set(c, &rec->call_fd, (uint64_t)(int64_t)fd);
	return VU_REPLY_ACK;
}

static enum vu_reply
h_set_vring_err(struct vu_ctx *c)
{
	struct region_queue_rec *rec;
	int q, fd;

	q = vring_fd_msg(c, &fd);
	if (q < 0)
		return fail(c, q);
	rec = &c->d->queue[q];
	close_after(c, rec->err_fd);
	set(c, &rec->err_fd, (uint64_t)(int64_t)fd);
	return VU_REPLY_ACK;
}

static enum vu_reply
h_set_vring_enable(struct vu_ctx *c)
{
	struct vu_vring_state s;
	int q;

	memcpy(&s, c->payload, sizeof(s));
	q = vq_index(c, s.index);
	if (q < 0 || s.num > 1)
		return fail(c, -EINVAL);
	if (s.num == 0)
		queue_stop(c->dev->qs, (unsigned)q);
	else
		c->start_mask |= 1u << q;
	set(c, &c->d->queue[q].enabled, s.num);
	return VU_REPLY_ACK;
}

static enum vu_reply
h_get_queue_num(struct vu_ctx *c)
{
	return reply_u64(c, c->dev->nqueues);
}

static enum vu_reply
h_refuse(struct vu_ctx *c)
{
	return fail(c, -EOPNOTSUPP);
}

struct handler {
	vu_handler_fn *fn;
	const char *name;
	int size;		/* exact payload size, -1 = checked inside */
	unsigned max_fds;
};

static const struct handler handlers[_VU_REQ_MAX] = {
	[VU_REQ_GET_FEATURES] = { h_get_features, "GET_FEATURES", 0, 0 },
	[VU_REQ_SET_FEATURES] = { h_set_features, "SET_FEATURES", 8, 0 },
	[VU_REQ_SET_OWNER] = { h_set_owner, "SET_OWNER", 0, 0 },
	[VU_REQ_RESET_OWNER] = { h_reset, "RESET_OWNER", -1, 0 },
	[VU_REQ_SET_MEM_TABLE] = { h_set_mem_table, "SET_MEM_TABLE", -1,
		VU_MEM_BASELINE_NREGIONS },
	[VU_REQ_SET_LOG_BASE] = { h_refuse, "SET_LOG_BASE", -1, 1 },
	[VU_REQ_SET_LOG_FD] = { h_refuse, "SET_LOG_FD", -1, 1 },
	[VU_REQ_SET_VRING_NUM] = { h_set_vring_num, "SET_VRING_NUM", 8, 0 },
	[VU_REQ_SET_VRING_ADDR] = { h_set_vring_addr, "SET_VRING_ADDR", 40,
		0 },
	[VU_REQ_SET_VRING_BASE] = { h_set_vring_base, "SET_VRING_BASE", 8,
		0 },
	[VU_REQ_GET_VRING_BASE] = { h_get_vring_base, "GET_VRING_BASE", 8,
		0 },
	[VU_REQ_SET_VRING_KICK] = { h_set_vring_kick, "SET_VRING_KICK", 8,
		1 },
	[VU_REQ_SET_VRING_CALL] = { h_set_vring_call, "SET_VRING_CALL", 8,
		1 },
	[VU_REQ_SET_VRING_ERR] = { h_set_vring_err, "SET_VRING_ERR", 8, 1 },
	[VU_REQ_GET_PROTOCOL_FEATURES] = { h_get_protocol_features,
		"GET_PROTOCOL_FEATURES", 0, 0 },
	[VU_REQ_SET_PROTOCOL_FEATURES] = { h_set_protocol_features,
		"SET_PROTOCOL_FEATURES", 8, 0 },
	[VU_REQ_GET_QUEUE_NUM] = { h_get_queue_num, "GET_QUEUE_NUM", 0, 0 },
	[VU_REQ_SET_VRING_ENABLE] = { h_set_vring_enable, "SET_VRING_ENABLE",
		8, 0 },
	[VU_REQ_RESET_DEVICE] = { h_reset, "RESET_DEVICE", 0, 0 },
	[VU_REQ_GET_MAX_MEM_SLOTS] = { h_get_max_mem_slots,
		"GET_MAX_MEM_SLOTS", 0, 0 },
	[VU_REQ_ADD_MEM_REG] = { h_add_mem_reg, "ADD_MEM_REG", 40, 1 },
	[VU_REQ_REM_MEM_REG] = { h_rem_mem_reg, "REM_MEM_REG", 40, 1 },
};

/* ---- entry ------------------------------------------------------------ */

int
vu_dispatch(struct vu_dev *dev)
{
	struct region_dev_rec *d = dev->r->dev;
	const struct handler *h = NULL;
	enum vu_reply rep = VU_REPLY_ACK;
	struct vu_hdr rh;
	struct vu_ctx c;
	uint64_t nfds = d->ctrl_nfds;

	memset(&c, 0, sizeof(c));
	c.dev = dev;
	c.d = d;
	c.unlock_push = -1;
	memcpy(&c.hdr, d->ctrl_hdr, sizeof(c.hdr));
	c.payload = d->ctrl_payload;
	if (nfds > REGION_MAX_FDS)
		nfds = 0; /* corrupt record: keep nothing */
	c.nfds = (unsigned)nfds;
	for (unsigned i = 0; i < c.nfds; i++)
		c.fds[i] = (int)d->ctrl_fds[i];
	redo_begin(&c.tx, dev->r, dev->t);
	fault_begin(REGION_ACT_CONTROL, d->ctrl_seq);

	if (c.hdr.request < _VU_REQ_MAX && handlers[c.hdr.request].fn != NULL)
		h = &handlers[c.hdr.request];
	/*
	 * The message sequence, for --debug (what a guest reboot sends:
	 * tests/vm/reboot.sh). The first payload word is the queue index
	 * of a vring message, or the value set.
	 */
	log_debug("vhost-user #%llu %s size %u fds %u arg 0x%llx",
	    (unsigned long long)d->ctrl_seq, h != NULL ? h->name : "?",
	    c.hdr.size, c.nfds, (unsigned long long)(c.hdr.size >= 8 &&
	    c.hdr.size <= REGION_CTRL_MAX ? payload_u64(&c) : 0));
	if (h == NULL) {
		if (dev->refused++ < 16)
			log_warnx("vhost-user request %u refused (not "
			    "supported)", c.hdr.request);
		c.status = -EOPNOTSUPP;
	} else if ((h->size >= 0 && c.hdr.size != (uint32_t)h->size) ||
	    c.hdr.size > REGION_CTRL_MAX || c.nfds > h->max_fds) {
		log_warnx("vhost-user %s: bad size %u or %u fds", h->name,
		    c.hdr.size, c.nfds);
		c.status = -EINVAL;
		/* A request with a reply of its own gets none (logged). */
		if (h->fn == h_get_vring_base)
			rep = VU_REPLY_NONE;
	} else {
		rep = h->fn(&c);
		if (c.status < 0)
			log_debug("vhost-user %s: %s", h->name,
			    strerror(-c.status));
	}

	/* The reply, written before the commit that says HANDLED. */
	rh.request = c.hdr.request;
	rh.flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
	rh.size = 0;
	if (rep == VU_REPLY_DATA) {
		rh.size = c.reply_size;
	} else if (rep == VU_REPLY_ACK && (get(&c, &d->protocol_features) &
		       1ULL << VU_PF_REPLY_ACK) &&
	    (c.hdr.flags & VU_FLAG_NEED_REPLY)) {
		uint64_t st = c.status < 0 ? 1 : 0;

		memcpy(c.reply, &st, 8);
		rh.size = 8;
		rep = VU_REPLY_DATA;
	}
	if (rep == VU_REPLY_DATA) {
		memcpy(d->ctrl_reply, &rh, sizeof(rh));
		memcpy(d->ctrl_reply + sizeof(rh), c.reply, rh.size);
		d->ctrl_reply_len = sizeof(rh) + rh.size;
	} else {
		d->ctrl_reply_len = 0;
	}
	/* Message fds the region did not take are closed after the commit. */
	for (unsigned i = 0; i < c.nfds; i++)
		if (!c.kept[i])
			close_after(&c, c.fds[i]);
	set(&c, &d->ctrl_seq, d->ctrl_seq + 1);
	set(&c, &d->ctrl_state, REGION_CTRL_HANDLED);
	if (c.txfail) {
		redo_abort(&c.tx);
		if (c.unlock_push >= 0)
			queue_unlock_push(dev->qs, (unsigned)c.unlock_push);
		guestmem_put(c.install);
		fault_end();
		return -ENOSPC;
	}
	redo_commit(&c.tx);
	if (c.unlock_push >= 0)
		queue_unlock_push(dev->qs, (unsigned)c.unlock_push);
	fault_end();

	/* After the commit: heap effects a new worker would re-derive. */
	if (c.install != NULL) {
		guestmem_install(&dev->gm, c.install);
		queue_wake_all(dev->qs);
	}
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		int err;

		if (!(c.start_mask & 1u << q))
			continue;
		err = queue_start(dev->qs, q, false);
		if (err < 0)
			log_warnx("queue %u: cannot start: %s", q,
			    strerror(-err));
	}
	return 0;
}
