/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueue operations (virtio 1.0, little-endian) on one queue's
 * region record and a guest memory snapshot. Knows no FUSE.
 *
 * Ownership: a struct vring_queue belongs to the thread serving its queue. The
 * consumer side (avail, descriptors) is used by that thread only; the
 * producer side (vring_push, vring_notify) must be called under the
 * queue's push lock (queue.c), which also covers rec->used_idx, the
 * publish record and rec->call_fd. A malformed ring returns -EPROTO
 * (structure) or -EFAULT (address outside guest memory): the caller marks
 * the queue broken. Nothing here logs.
 */
#ifndef PHX_VRING_H
#define PHX_VRING_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guestmem.h"
#include "region.h"

#define VRING_MAX_INDIRECT 1024	/* descriptors in one indirect table */
#define VRING_MAX_IOV	   1100	/* iovecs a chain may map to */

struct vring_queue {
	struct region *r;
	struct region_queue_rec *rec;
	unsigned qidx;
	struct guestmem_table *gt; /* reference held; rings point into it */
	uint16_t num;
	bool event_idx;
	bool indirect;
	bool no_slots;		/* --no-journal: no journal slots to free */
	uint8_t *desc;		/* num * 16 bytes */
	uint8_t *avail;		/* 6 + 2 * num bytes (with used_event) */
	uint8_t *used;		/* 6 + 8 * num bytes (with avail_event) */
};

/* The result of a chain walk: readable iovecs first, then writable. */
struct vring_chain {
	struct iovec *iov;	/* caller's array of max entries */
	unsigned max;
	unsigned nrd, nwr;	/* iov[0, nrd) readable, [nrd, nrd+nwr) writable */
	uint64_t rd_len, wr_len;
};

struct vring_used_ent {
	uint32_t id;
	uint32_t len;
};

/*
 * Translates queue q's ring addresses (r->dev->queue[q]) in gt and keeps a
 * reference to gt (a previous one is dropped). features: the negotiated
 * virtio features (EVENT_IDX, INDIRECT_DESC). -EINVAL: size not a power of
 * two in 1..REGION_MAX_QUEUE_SIZE, a ring not mapped in one region, or
 * misaligned. On failure the vring holds no table.
 */
int vring_attach(struct vring_queue *vr, struct region *r, unsigned q,
    struct guestmem_table *gt, uint64_t features);
/* Drops the table reference. */
void vring_detach(struct vring_queue *vr);

/* Guest's avail->idx (acquire: ring entries read after it are current). */
uint16_t vring_avail_idx(const struct vring_queue *vr);
/* Guest's used->idx as stored in guest memory. */
uint16_t vring_used_idx_guest(const struct vring_queue *vr);
/*
 * Entries available after last_avail. -EPROTO if the guest claims more
 * than num (DESIGN 3 step 1).
 */
int vring_avail_count(const struct vring_queue *vr, uint16_t last_avail,
    uint16_t *ret_n);
/* The head at avail position pos. -EPROTO if head >= num. */
int vring_avail_head(const struct vring_queue *vr, uint16_t pos,
    uint16_t *ret_head);
/*
 * Walks the chain at head (direct or one level of indirect), bounded by
 * the ring or table size. -EPROTO: loop, too long, nested or misplaced
 * indirect, indirect length 0 / not a multiple of 16 / too large,
 * readable after writable, zero-length buffer, indirect not negotiated.
 * -EFAULT: a buffer or table outside guest memory. -E2BIG: more than
 * c->max iovecs. Buffers crossing regions become several iovecs.
 */
int vring_walk(const struct vring_queue *vr, uint16_t head, struct vring_chain *c);
/* Copies up to max readable bytes of c into dst; returns bytes copied. */
size_t vring_copy_readable(const struct vring_chain *c, void *dst,
    size_t max);

/*
 * DESIGN 3 step 5, under the push lock: writes n used elements at the
 * shadow used index, the publish record, frees the journal slots of the
 * heads, then stores used->idx (release) and the shadow. Returns whether
 * the guest wants a notification for this batch (EVENT_IDX used_event, or
 * VRING_AVAIL_F_NO_INTERRUPT). n <= num.
 */
bool vring_push(struct vring_queue *vr, const struct vring_used_ent *e, unsigned n);
/* Signals the call eventfd (if any). Under the push lock. -errno. */
int vring_notify(const struct vring_queue *vr);
/*
 * Before sleeping on the kick fd: publishes avail_event = last_avail
 * (EVENT_IDX) or clears VRING_USED_F_NO_NOTIFY, full barrier, re-reads
 * avail->idx. Returns true if nothing new is available (safe to sleep).
 */
bool vring_prepare_sleep(const struct vring_queue *vr, uint16_t last_avail);
/* While busy (no EVENT_IDX): sets VRING_USED_F_NO_NOTIFY. */
void vring_suppress_kicks(const struct vring_queue *vr);
/* EVENT_IDX notification test (virtio spec vring_event_needed). */
bool vring_event_needed(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx);

/*
 * Recovery (DESIGN 4 step 3): settles the publish record. Published iff
 * the guest's used->idx reached first + count: then only the shadow is
 * updated. Otherwise the elements are rewritten, their slots freed and
 * used->idx stored. Returns 1 if the record was rewritten and published
 * now, 0 if there was nothing to do or it was already published, -EPROTO
 * for a corrupt record (cleared). Single-threaded (before queue threads).
 */
int vring_settle_publish(struct vring_queue *vr);

#endif
