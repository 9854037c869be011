/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exactly-once host mutations through per-thread io_urings (DESIGN 5).
 * Invariant: for a slot in EXECUTING, either its intent says KNOWN with the
 * result, or the result (if the operation ran at all) is an unconsumed
 * completion on the ring recorded in the thread record that submitted it,
 * with user_data naming (queue, head, slot generation). The ring is created
 * without SINGLE_ISSUER or DEFER_TASKRUN (a later incarnation reads it),
 * with a CQ far larger than the one operation a thread has in flight, and
 * restricted to the opcodes below (seccomp cannot see them).
 */
#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fault.h"
#include "fdtab.h"
#include "inode.h"
#include "intent.h"
#include "journal.h"

/* Linux 6.9; not yet in Debian 12's headers. */
#define PHX_IORING_OP_FTRUNCATE 55

static const unsigned allowed_ops[] = {
	IORING_OP_MKDIRAT, IORING_OP_UNLINKAT, IORING_OP_RENAMEAT,
	IORING_OP_SYMLINKAT, IORING_OP_LINKAT, IORING_OP_OPENAT,
	IORING_OP_FALLOCATE, IORING_OP_FSETXATTR, PHX_IORING_OP_FTRUNCATE,
	IORING_OP_SEND,
};

static __thread struct io_uring ring;
static __thread bool have_ring;
static __thread bool have_ftruncate;
/*
 * IORING_OP_FTRUNCATE support, probed once by intent_probe() before the
 * keeper (inherited by every worker): -1 unknown (a keeper re-executed
 * for an upgrade), then each ring probes for itself.
 */
static int ftruncate_probed = -1;
static __thread unsigned self_index;
static __thread struct io_uring_cqe *pending_send;
static struct region *intent_region;
/*
 * Operations the queue thread does not wait for (queue_async.c): allowed
 * for the request being run, the key of the one it left on the ring, the
 * recorded result given back when it runs again, and the completions of
 * such operations that a wait for another key consumed meanwhile.
 */
static __thread bool async_allowed, async_resume;
static __thread uint64_t async_key; /* 0: none left this run */
static __thread unsigned async_inflight;
static __thread uint64_t async_done[INTENT_ASYNC_MAX];
static __thread unsigned async_ndone;

static int ring_init(struct region *r, struct region_thread_rec *t);
static bool async_eligible(uint8_t opcode);

int
intent_probe(void)
{
	struct io_uring r;
	struct io_uring_probe *probe;
	int err = io_uring_queue_init(2, &r, 0);

	if (err == 0) {
		probe = io_uring_get_probe_ring(&r);
		if (probe != NULL) {
			ftruncate_probed = io_uring_opcode_supported(probe,
			    PHX_IORING_OP_FTRUNCATE);
			io_uring_free_probe(probe);
		}
		io_uring_queue_exit(&r);
	}
	return err;
}

int
intent_thread_init(struct region *r, struct region_thread_rec *t)
{
	intent_region = r;
	if (have_ring)
		return 0;
	/*
	 * Its ring fd is never the fd sweep's: the sweep closes only fds
	 * open before this incarnation made any (fdtab.h).
	 */
	return ring_init(r, t);
}

static int
ring_init(struct region *r, struct region_thread_rec *t)
{
	struct io_uring_restriction res[nitems(allowed_ops)];
	struct io_uring_params p;
	struct io_uring_probe *probe;
	int err, fl;
#ifdef PHX_CRASHPOINTS
	/*
	 * Tests (PHX_FAIL=intent.ring_enomem[:n]): from the n-th ring of an
	 * incarnation on, every ring that incarnation sets up is refused, as
	 * io_uring_setup refuses one (ENOMEM) once the user's RLIMIT_MEMLOCK
	 * budget is spent (a worker without CAP_IPC_LOCK: an unprivileged
	 * run; caps.c); later incarnations get theirs.
	 * PHX_FAIL=intent.ring_enomem_later[:n]: the same from the second
	 * incarnation on (a recovery whose replays have no ring).
	 */
	static bool refuse;

	if (__atomic_load_n(&refuse, __ATOMIC_RELAXED) ||
	    FAILPOINT("intent.ring_enomem") ||
	    (region_load(&r->hdr->incarnation) > 1 &&
		FAILPOINT("intent.ring_enomem_later"))) {
		__atomic_store_n(&refuse, true, __ATOMIC_RELAXED);
		return -ENOMEM;
	}
#endif

	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_R_DISABLED;
	p.cq_entries = 64;
	err = io_uring_queue_init_params(4, &ring, &p);
	if (err < 0)
		return err;
	/* A register call and an allocation less per thread when known. */
	probe = ftruncate_probed >= 0 ? NULL : io_uring_get_probe_ring(&ring);
	have_ftruncate = ftruncate_probed >= 0 ? ftruncate_probed != 0 :
	    probe != NULL && io_uring_opcode_supported(probe,
	    PHX_IORING_OP_FTRUNCATE);
	if (probe != NULL)
		io_uring_free_probe(probe);
	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < nitems(allowed_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = (uint8_t)allowed_ops[i];
	}
	/* Raw calls: Debian's liburing 2.3 does not export these two. */
	err = (int)syscall(SYS_io_uring_register, ring.ring_fd,
	    IORING_REGISTER_RESTRICTIONS, res, (unsigned)nitems(res));
	if (err == 0)
		err = (int)syscall(SYS_io_uring_register, ring.ring_fd,
		    IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (err < 0)
		err = -errno;
	/* Born O_CLOEXEC: a live upgrade must keep it (DESIGN 8). */
	fl = fcntl(ring.ring_fd, F_GETFD);
	if (err == 0 && (fl < 0 ||
	    fcntl(ring.ring_fd, F_SETFD, fl & ~FD_CLOEXEC) < 0))
		err = -errno;
	if (err < 0) {
		io_uring_queue_exit(&ring);
		return err;
	}
	t->ring_cq_head = p.cq_off.head;
	t->ring_cq_tail = p.cq_off.tail;
	t->ring_cq_mask = p.cq_off.ring_mask;
	t->ring_cqes = p.cq_off.cqes;
	t->ring_cq_entries = p.cq_entries;
	DELAYPOINT("intent.ring_init");
	/* Offsets first: recovery maps the ring only if ring_fd >= 0. */
	region_store((uint64_t *)&t->ring_fd, (uint64_t)ring.ring_fd);
	self_index = (unsigned)(t - r->threads);
	have_ring = true;
	return 0;
}

void
intent_thread_fini(struct region_thread_rec *t)
{
	if (!have_ring)
		return;
	/* Forget it first: a crash in between leaks, never reuses. */
	if (t != NULL && t->ring_fd == ring.ring_fd)
		region_store((uint64_t *)&t->ring_fd, (uint64_t)-1);
	io_uring_queue_exit(&ring);
	have_ring = false;
}

bool
intent_available(void)
{
	return have_ring;
}

bool
intent_route(struct fuse_req *req)
{
	struct journal_slot_rec *s = req->slot;
	uint64_t gen, st;

	if (s == NULL)
		return false;
	gen = journal_gen(region_load(&s->word));
	st = region_load(&s->intent[INTENT_W_STATE]);
	/*
	 * A replay of a pop that called the host directly: whether it ran
	 * is in no ring, and a ring would answer EEXIST for the first run's
	 * MKDIR (kills.sh's pool run once its rings failed with ENOMEM).
	 */
	if (st == (INTENT_DIRECT | gen << 8))
		return false;
	/* Answered from the record: exec() needs no ring for that. */
	if (have_ring || (st == (INTENT_KNOWN | gen << 8) &&
	    (int64_t)s->intent[INTENT_W_RESULT] >= 0))
		return true;
	/*
	 * A ring run recorded as failed had no effect (a failure the kill
	 * caused is never recorded: drain_one): the direct call is the
	 * first, and a name it finds is not that run's (ringlater).
	 */
	if (st == (INTENT_KNOWN | gen << 8))
		req->once_failed = true;
	region_store(&s->intent[INTENT_W_STATE], INTENT_DIRECT | gen << 8);
	return false;
}

static void
slot_of(const struct fuse_req *req, unsigned *ret_q, unsigned *ret_head)
{
	size_t idx = (size_t)(req->slot - intent_region->journal);

	*ret_q = (unsigned)(idx / REGION_MAX_QUEUE_SIZE);
	*ret_head = (unsigned)(idx % REGION_MAX_QUEUE_SIZE);
}

bool
intent_known(const struct fuse_req *req, int64_t *ret_res)
{
	struct journal_slot_rec *s = req->slot;
	uint64_t st;

	if (s == NULL || intent_region == NULL)
		return false;
	st = region_load(&s->intent[INTENT_W_STATE]);
	if ((st & 0xff) != INTENT_KNOWN ||
	    (st >> 8) != journal_gen(region_load(&s->word)))
		return false;
	*ret_res = (int64_t)s->intent[INTENT_W_RESULT];
	/*
	 * A dead ring's OPENAT fd taken over by the replay, which records or
	 * closes it: the fd sweep, closing the slot fds no replay took,
	 * keeps it (fdtab.c slotfds).
	 */
	if (*ret_res >= 0 && region_load(&s->intent[INTENT_W_OP]) ==
	    IORING_OP_OPENAT)
		fdtab_note((int)*ret_res);
	/* A failure had no effect: run again (see drain_one). */
	return *ret_res >= 0;
}

/*
 * A completion of an operation whose request did not wait for it
 * (intent_async_*): the result goes to its slot as KNOWN, failures too
 * (its request runs again at once and answers this one; were the worker
 * to die first, the replay runs a failed operation again, as after
 * drain_one), then the key waits for intent_async_reap().
 */
static void
record_async(const struct io_uring_cqe *c)
{
	unsigned q = (c->user_data >> 40) & 0xff;
	unsigned hd = (c->user_data >> 24) & 0xffff;
	uint32_t gen = c->user_data & 0xffffff;
	struct journal_slot_rec *s;

	if (c->user_data >> 56 != REGION_ACT_REQUEST || intent_region == NULL ||
	    async_inflight == 0)
		return;
	async_inflight--;
	s = region_slot(intent_region, q, hd);
	if (s != NULL && journal_gen(region_load(&s->word)) == gen &&
	    (region_load(&s->intent[INTENT_W_STATE]) >> 8) == gen) {
		s->intent[INTENT_W_RESULT] = (uint64_t)(int64_t)c->res;
		region_store(&s->intent[INTENT_W_STATE],
		    INTENT_KNOWN | (uint64_t)gen << 8);
	}
	if (async_ndone < INTENT_ASYNC_MAX)
		async_done[async_ndone++] = c->user_data;
}

/*
 * Submits a copy of tmpl tagged key (tmpl NULL: its SQE is already in
 * the SQ, an io_uring_enter having refused it) and waits for its
 * completion, which is left unconsumed in *ret_cqe: the caller records
 * the result where recovery finds it, then marks the CQE seen. -errno if
 * it never ran.
 */
static int
submit_wait(const struct io_uring_sqe *tmpl, uint64_t key,
    struct io_uring_cqe **ret_cqe)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int err;

	if (tmpl != NULL) {
		sqe = io_uring_get_sqe(&ring);
		if (sqe == NULL)
			return -EAGAIN;
		*sqe = *tmpl;
		sqe->user_data = key;
	}
	for (;;) {
#ifdef PHX_CRASHPOINTS
		/* Tests: the enter refused the SQE, left in the SQ. */
		if (key >> 56 == REGION_ACT_REQUEST &&
		    FAILPOINT("intent.submit_eagain"))
			err = -EAGAIN;
		else
#endif
		err = io_uring_submit_and_wait(&ring, 1);
		if (err >= 0)
			break;
		/*
		 * The SQE stays in the SQ and goes with the next enter:
		 * failing here would answer an error for an op that runs
		 * later. Only the kernel's completion says what it did.
		 */
		if (err == -EAGAIN || err == -EBUSY || err == -ENOMEM) {
			const struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
		} else if (err != -EINTR) {
			return err;
		}
	}
	for (;;) {
		err = io_uring_wait_cqe(&ring, &cqe);
		if (err == -EINTR)
			continue;
		if (err < 0)
			return err;
		if (cqe->user_data == key)
			break;
		/* Another request's operation left to complete alone. */
		record_async(cqe);
		io_uring_cqe_seen(&ring, cqe);
	}
	*ret_cqe = cqe;
	return 0;
}

#ifdef PHX_CRASHPOINTS
/*
 * Tests (PHX_FAIL=intent.eintr, intent.enoent): the worker dies with
 * key's op completed res and nothing done, as an NFS or FUSE op
 * interrupted by the kill leaves it (-EINTR), or a LINKAT through
 * /proc/self/fd run by io-wq after the killed worker's files went
 * (-ENOENT): the completion is written where the kernel would write it.
 */
static void
fake_and_die(uint64_t key, int res)
{
	unsigned tail = *ring.cq.ktail;
	struct io_uring_cqe *c = &ring.cq.cqes[tail & *ring.cq.kring_mask];

	memset(c, 0, sizeof(*c));
	c->user_data = key;
	c->res = res;
	__atomic_store_n(ring.cq.ktail, tail + 1, __ATOMIC_RELEASE);
	raise(SIGKILL);
	pause();
}
#endif

/*
 * Submits sqe for req's slot and waits for its completion; records the
 * result in the slot before consuming the CQE. -ENOSYS: no ring (the
 * caller runs the syscall itself).
 */
static int
exec(struct fuse_req *req, const struct io_uring_sqe *tmpl)
{
	struct journal_slot_rec *s = req->slot;
	struct io_uring_cqe *cqe;
	unsigned q, head;
	uint64_t word, key;
	uint32_t gen;
	int64_t res;
	bool queued;
	int err;

	if (intent_known(req, &res))
		return (int)res;
	if (!have_ring || s == NULL)
		return -ENOSYS;
	slot_of(req, &q, &head);
	word = region_load(&s->word);
	gen = journal_gen(word);
	/* The run after intent_async_reap(): its failure, recorded. */
	if (async_resume && region_load(&s->intent[INTENT_W_STATE]) ==
	    (INTENT_KNOWN | (uint64_t)gen << 8))
		return (int)(int64_t)s->intent[INTENT_W_RESULT];
	key = fault_key_request(q, head, gen);
	s->intent[INTENT_W_THREAD] = self_index;
	s->intent[INTENT_W_OP] = tmpl->opcode;
	/* The directory the entry is made in: LINKAT's is its new one. */
	s->intent[INTENT_W_DIRFD] = (uint64_t)(int64_t)(tmpl->opcode ==
	    IORING_OP_LINKAT ? (int)tmpl->len : tmpl->fd);
	region_store(&s->intent[INTENT_W_STATE],
	    INTENT_SUBMITTED | (uint64_t)gen << 8);
	/* Recovery resolves an EXECUTING slot instead of re-running it. */
	region_store(&s->word, journal_with_state(word, JOURNAL_EXECUTING));
#ifdef PHX_CRASHPOINTS
	if (FAILPOINT("intent.eintr"))
		fake_and_die(key, -EINTR);
	if (FAILPOINT("intent.enoent"))
		fake_and_die(key, -ENOENT);
#endif
	/*
	 * Not with fds opened for this request (file handles): they close
	 * when it leaves, and the op names its directory by fd number.
	 */
	queued = false;
	if (async_allowed && async_eligible(tmpl->opcode) &&
	    async_inflight < INTENT_ASYNC_MAX && !inode_temps_held()) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (sqe != NULL) {
			*sqe = *tmpl;
			sqe->user_data = key;
#ifdef PHX_CRASHPOINTS
			/* Tests: io_uring_enter refused it (-EAGAIN). */
			if (FAILPOINT("intent.async_nosubmit"))
				err = -EAGAIN;
			else
#endif
			do
				err = io_uring_submit(&ring);
			while (err == -EINTR);
			if (err == 1) {
				/* Tests: the request left, the op in flight. */
				DELAYPOINT("intent.async_submitted");
				async_inflight++;
				async_key = key;
				return -EINPROGRESS;
			}
			/*
			 * Not submitted (the enter failed, or took none):
			 * nothing ran, but the SQE stays in the SQ and goes
			 * with the next enter. Wait for it as usual, without
			 * a second copy: two would run the op twice, and the
			 * stray completion would be counted as that of an op
			 * left in flight (record_async), whose own would
			 * then be dropped, its request never answered.
			 */
			queued = true;
		}
	}
	err = submit_wait(queued ? NULL : tmpl, key, &cqe);
	if (err < 0)
		return err;
	res = cqe->res;
	s->intent[INTENT_W_RESULT] = (uint64_t)res;
	/* The result is in the slot before the CQE may be overwritten. */
	region_store(&s->intent[INTENT_W_STATE],
	    INTENT_KNOWN | (uint64_t)gen << 8);
	io_uring_cqe_seen(&ring, cqe);
	return (int)res;
}

int
intent_send(int fd, const void *buf, size_t len, uint64_t seq)
{
	uint64_t key = (uint64_t)REGION_ACT_CONTROL << 56 |
	    (seq & 0x00ffffffffffffffULL);
	struct io_uring_cqe *cqe;
	struct io_uring_sqe sqe;
	int err, res;

	if (!have_ring)
		return -ENOSYS;
	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_send(&sqe, fd, buf, len, MSG_NOSIGNAL);
	err = submit_wait(&sqe, key, &cqe);
	if (err < 0)
		return err;
	res = cqe->res;
	/* Consumed by intent_send_seen(), after the caller stored SENT. */
	pending_send = cqe;
	return res;
}

void
intent_send_seen(void)
{
	if (pending_send != NULL)
		io_uring_cqe_seen(&ring, pending_send);
	pending_send = NULL;
}

static int
direct(int ret)
{
	return ret < 0 ? -errno : ret;
}

int
intent_mkdirat(struct fuse_req *req, int dirfd, const char *name, mode_t mode)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_mkdirat(&sqe, dirfd, name, mode);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(mkdirat(dirfd, name, mode));
}

int
intent_unlinkat(struct fuse_req *req, int dirfd, const char *name, int flags)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_unlinkat(&sqe, dirfd, name, flags);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(unlinkat(dirfd, name, flags));
}

int
intent_renameat2(struct fuse_req *req, int olddirfd, const char *oldname,
    int newdirfd, const char *newname, unsigned flags)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_renameat(&sqe, olddirfd, oldname, newdirfd, newname,
	    flags);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(renameat2(olddirfd, oldname,
	    newdirfd, newname, flags));
}

int
intent_symlinkat(struct fuse_req *req, const char *target, int dirfd,
    const char *name)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_symlinkat(&sqe, target, dirfd, name);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(symlinkat(target, dirfd, name));
}

int
intent_linkat(struct fuse_req *req, int olddirfd, const char *oldname,
    int newdirfd, const char *newname, int flags)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_linkat(&sqe, olddirfd, oldname, newdirfd, newname, flags);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(linkat(olddirfd, oldname,
	    newdirfd, newname, flags));
}

int
intent_openat(struct fuse_req *req, int dirfd, const char *name, int flags,
    mode_t mode)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_openat(&sqe, dirfd, name, flags, mode);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(openat(dirfd, name, flags, mode));
}

int
intent_fallocate(struct fuse_req *req, int fd, int mode, off_t off, off_t len)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_fallocate(&sqe, fd, mode, off, len);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(fallocate(fd, mode, off, len));
}

int
intent_ftruncate(struct fuse_req *req, int fd, off_t len)
{
	struct io_uring_sqe sqe;
	int ret = -ENOSYS;

	if (have_ftruncate) {
		memset(&sqe, 0, sizeof(sqe));
		sqe.opcode = PHX_IORING_OP_FTRUNCATE;
		sqe.fd = fd;
		sqe.off = (uint64_t)len;
		ret = exec(req, &sqe);
	}
	return ret != -ENOSYS ? ret : direct(ftruncate(fd, len));
}

int
intent_fsetxattr(struct fuse_req *req, int fd, const char *name,
    const void *value, size_t size, int flags)
{
	struct io_uring_sqe sqe;
	int ret;

	memset(&sqe, 0, sizeof(sqe));
	io_uring_prep_fsetxattr(&sqe, fd, name, (const char *)value, flags,
	    (unsigned)size);
	ret = exec(req, &sqe);
	return ret != -ENOSYS ? ret : direct(fsetxattr(fd, name, value, size,
	    flags));
}

/* ---- requests that do not wait (queue_async.c) ----------------------- */

/*
 * One host call each. The fd an OPENAT installs, recorded only when its
 * request runs again (queue_async.c), is never the fd sweep's: it takes
 * a number free after the recovery's snapshot (fdtab.h).
 */
static bool
async_eligible(uint8_t opcode)
{
	return opcode == IORING_OP_UNLINKAT || opcode == IORING_OP_MKDIRAT ||
	    opcode == IORING_OP_SYMLINKAT || opcode == IORING_OP_RENAMEAT ||
	    opcode == IORING_OP_OPENAT;
}

void
intent_async_allow(bool allow)
{
	async_allowed = allow && have_ring;
	async_key = 0;
}

void
intent_async_resume(bool on)
{
	async_resume = on;
}

uint64_t
intent_async_left(void)
{
	uint64_t k = async_key;

	async_key = 0;
	return k;
}

unsigned
intent_async_inflight(void)
{
	return async_inflight;
}

bool
intent_async_ready(void)
{
	return async_ndone > 0 || (have_ring && async_inflight > 0 &&
	    io_uring_cq_ready(&ring) > 0);
}

int
intent_ring_fd(void)
{
	return have_ring ? ring.ring_fd : -1;
}

unsigned
intent_async_reap(uint64_t *keys, unsigned max, bool wait)
{
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	if (wait && async_ndone == 0 && async_inflight > 0 &&
	    io_uring_wait_cqe(&ring, &cqe) == 0) {
		record_async(cqe);
		io_uring_cqe_seen(&ring, cqe);
	}
	while (async_inflight > 0 && async_ndone < INTENT_ASYNC_MAX &&
	    io_uring_peek_cqe(&ring, &cqe) == 0) {
		record_async(cqe);
		io_uring_cqe_seen(&ring, cqe);
	}
	while (n < max && async_ndone > 0)
		keys[n++] = async_done[--async_ndone];
	return n;
}

/* Records one dead ring's unconsumed completions in their slots. */
static int
drain_one(struct region *r, struct region_thread_rec *t)
{
	uint64_t mapsz, head, tail, mask;
	const struct io_uring_cqe *cqes;
	uint8_t *p;
	int found = 0;

	if (t->ring_cq_entries == 0 || t->ring_cq_entries > 65536 ||
	    t->ring_cqes > 4096 || t->ring_cq_head > 4096 ||
	    t->ring_cq_tail > 4096 || t->ring_cq_mask > 4096)
		return -EPROTO;
	mapsz = t->ring_cqes + t->ring_cq_entries * sizeof(struct io_uring_cqe);
	p = mmap(NULL, mapsz, PROT_READ, MAP_SHARED | MAP_POPULATE,
	    (int)t->ring_fd, IORING_OFF_CQ_RING);
	if (p == MAP_FAILED)
		return -errno;
	head = __atomic_load_n((uint32_t *)(p + t->ring_cq_head),
	    __ATOMIC_ACQUIRE);
	tail = __atomic_load_n((uint32_t *)(p + t->ring_cq_tail),
	    __ATOMIC_ACQUIRE);
	mask = *(uint32_t *)(p + t->ring_cq_mask);
	cqes = (const struct io_uring_cqe *)(p + t->ring_cqes);
	for (uint32_t i = (uint32_t)head; i != (uint32_t)tail &&
	     (uint32_t)(i - head) <= t->ring_cq_entries; i++) {
		const struct io_uring_cqe *c = &cqes[i & mask];
		unsigned q = (c->user_data >> 40) & 0xff;
		unsigned hd = (c->user_data >> 24) & 0xffff;
		uint32_t gen = c->user_data & 0xffffff;
		struct journal_slot_rec *s = region_slot(r, q, hd);
		uint64_t w;

		if (c->user_data >> 56 == REGION_ACT_CONTROL) {
			struct region_dev_rec *d = r->dev;

			/* The reply of the message being handled left. */
			if (region_load(&d->ctrl_state) == REGION_CTRL_HANDLED &&
			    (d->ctrl_seq & 0x00ffffffffffffffULL) ==
			    (c->user_data & 0x00ffffffffffffffULL) &&
			    c->res >= 0 && (uint64_t)c->res == d->ctrl_reply_len) {
				region_store(&d->ctrl_state, REGION_CTRL_SENT);
				found++;
			}
			continue;
		}
		if (s == NULL || c->user_data >> 56 != REGION_ACT_REQUEST)
			continue;
		w = region_load(&s->word);
		if (journal_state(w) != JOURNAL_EXECUTING ||
		    journal_gen(w) != gen)
			continue;
		/*
		 * A failure had no effect, and the dying worker causes
		 * failures of its own: -ECANCELED (killed before it ran),
		 * -EINTR (interrupted by the kill, a share on NFS or FUSE:
		 * issue 11 defect 12), -ENOENT from a LINKAT through
		 * /proc/self/fd once the killed worker's files are gone (the
		 * soak's LINK answered ENOENT). So only a success is taken
		 * from the dead ring; a failed op runs again in the replay,
		 * and fails again if its failure was the guest's.
		 */
		if (c->res < 0) {
			region_store(&s->intent[INTENT_W_STATE], INTENT_NONE);
			continue;
		}
		s->intent[INTENT_W_RESULT] = (uint64_t)(int64_t)c->res;
		region_store(&s->intent[INTENT_W_STATE],
		    INTENT_KNOWN | (uint64_t)gen << 8);
		found++;
	}
	munmap(p, mapsz);
	return found;
}

int
intent_drain_dead(struct region *r)
{
	int total = 0, n;

	intent_region = r;
	/* Only records ever claimed can name a ring (threads_used). */
	for (unsigned i = 0; i < region_threads_used(r); i++) {
		struct region_thread_rec *t = &r->threads[i];
		int fd = (int)t->ring_fd;

		if (t->ring_fd < 0)
			continue;
		n = drain_one(r, t);
		if (n > 0)
			total += n;
		/* Forget it first: a crash leaves a leak, never a reuse. */
		region_store((uint64_t *)&t->ring_fd, (uint64_t)-1);
		/*
		 * Closed now, before any replay (DESIGN 4 step 2). Nothing
		 * completes into it any more (the dead threads' exits waited
		 * for their io-wq, and the keeper for every task's mm:
		 * recovery.sh heldop), but each ring holds pages charged to
		 * the user's RLIMIT_MEMLOCK until its last close. Closed
		 * after recovery instead (stall6 e561c10), the closes a kill
		 * cut short piled up, io_uring_setup failed ENOMEM, threads
		 * ran without a ring (INTENT_DIRECT): kills.sh's pool run.
		 */
		if (!REGION_FD_RESERVED(fd))
			close(fd);
	}
	return total;
}
