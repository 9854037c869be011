/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The FUSE layer's entry point. It knows nothing of virtqueues: it gets a
 * request as a copy of its header and arguments (taken at pop into the
 * journal slot) plus the live guest buffers (readable, for WRITE and large
 * SETXATTR payloads; writable, for the reply), decodes it through the
 * opcode table, runs the passthrough operation and writes a zero-filled
 * reply. Table changes go into the caller's open redo transaction; the
 * caller commits it together with the slot's move to REPLIED.
 */
#ifndef PHX_FDISPATCH_H
#define PHX_FDISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "config.h"
#include "redo.h"
#include "region.h"

struct fuse_session;

struct fuse_req {
	const uint8_t *in;	/* copy: fuse_in_header + args, in_len bytes */
	size_t in_len;		/* bytes valid at in (<= in_total) */
	size_t in_total;	/* readable bytes of the whole chain */
	const struct iovec *in_iov; /* live readable guest buffers (all) */
	unsigned in_iovcnt;
	const struct iovec *out_iov; /* live writable guest buffers */
	unsigned out_iovcnt;
	size_t out_total;	/* writable bytes */
	struct journal_slot_rec *slot; /* intent and step records */
	struct redo_txn *txn;	/* open; committed by the caller */
	bool replay;		/* re-run by recovery after a crash */
	/*
	 * A SETLKW that cannot take its lock at once never waits on the
	 * calling thread: with may_park it parks (parked set, nothing
	 * written, no reply: the transport retries it from the top later,
	 * queue_wait.c), without it answers ENOLCK (EINTR on replay).
	 */
	bool may_park;
	/*
	 * Set by intent_route() for a replay on a thread without an
	 * io_uring whose pop's ring run is recorded as failed (KNOWN, < 0):
	 * nothing of it happened, so the direct call is its first run, and
	 * no identity rule may take what it finds for that run's effect.
	 */
	bool once_failed;
	bool parked;		/* out: a SETLKW parked (see may_park) */
	/*
	 * In: a parked SETLKW's retry answers this (-EINTR: its guest
	 * session ended) without trying the lock again; > 0: it was
	 * interrupted (FUSE_INTERRUPT): the lock is tried once more and the
	 * answer is EINTR only if it is taken. A worker killed between a
	 * retry's lock call and its commit left the lock held by this
	 * wait's OFD (or fd): then that try is a no-op, and the answer 0.
	 */
	int wait_end;
	/*
	 * Out: the request may have released locks on its nodeid (a SETLK
	 * unlock or downgrade, FLUSH, RELEASE), so parked SETLKWs there are
	 * worth a retry once it commits.
	 */
	bool unlocked;
	uint64_t interrupt;	/* out: a FUSE_INTERRUPT's target unique */
};

/*
 * Creates the session for one worker incarnation (heap state only; the
 * persistent part is r->fuse). root_fd is the shared directory's O_PATH fd.
 */
int fdispatch_init(struct fuse_session **ret, struct region *r,
    const struct config *cfg, int root_fd);
/*
 * Handles one request. Returns the number of reply bytes written into
 * out_iov (0 for requests without a reply, e.g. FORGET). Never fails: a bad
 * request gets an error reply (EINVAL, ENOSYS, ...), and a request whose
 * header cannot even be read gets no reply (0).
 */
size_t fdispatch_handle(struct fuse_session *s, struct fuse_req *req);

#endif
