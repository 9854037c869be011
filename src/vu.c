/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vhost-user socket I/O and the control loop (DESIGN 7). A message is read
 * exactly: its 12-byte header is first peeked without a control buffer
 * (which installs no fd), then header and payload are received in one
 * recvmsg() straight into the region (ctrl_hdr, ctrl_payload) with the
 * SCM_RIGHTS control data in ctrl_cmsg. The kernel finishes a receive
 * before a SIGKILL takes effect, so after a crash the region says whether
 * the message was taken: ctrl_hdr holds a sentinel until it is.
 *
 * States (dev->ctrl_state): IDLE (sentinel in ctrl_hdr) -> receive ->
 * RECEIVED -> vu_dispatch() commits HANDLED with the reply -> send ->
 * SENT -> IDLE. A new worker resumes at the recorded state: a RECEIVED
 * message is handled again, a HANDLED one has its reply sent. The one
 * window left is a crash between the send and the SENT store, where the
 * reply would be sent twice: replies therefore go out by an io_uring send
 * whose completion survives the worker (intent_send); the next worker's
 * drain of the dead rings moves HANDLED to SENT if the reply left.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "crashpoint.h"
#include "fault.h"
#include "intent.h"
#include "log.h"
#include "phase.h"
#include "queue.h"
#include "vu.h"
#include "vu_dispatch.h"
#include "vu_proto.h"

#define SENTINEL 0xff

/* ---- receive ---------------------------------------------------------- */

static bool
hdr_empty(const struct region_dev_rec *d)
{
	bool ff = true, zero = true;

	for (unsigned i = 0; i < VU_HDR_SIZE; i++) {
		ff &= d->ctrl_hdr[i] == SENTINEL;
		zero &= d->ctrl_hdr[i] == 0;
	}
	/* All-zero: a fresh region (a real header has VERSION set). */
	return ff || zero;
}

static void
reset_idle(struct region_dev_rec *d)
{
	memset(d->ctrl_hdr, SENTINEL, sizeof(d->ctrl_hdr));
	memset(d->ctrl_cmsg, 0, sizeof(d->ctrl_cmsg));
	for (unsigned i = 0; i < REGION_MAX_FDS; i++)
		d->ctrl_fds[i] = -1;
	d->ctrl_nfds = 0;
	d->ctrl_reply_len = 0;
	/* Release: the sentinel is in place before IDLE says to use it. */
	region_store(&d->ctrl_state, REGION_CTRL_IDLE);
}

/*
 * Records the fds the kernel wrote into ctrl_cmsg. Extra fds beyond
 * REGION_MAX_FDS are closed and the message marked bad (nfds = MAX + 1
 * is refused by every handler).
 */
static void
take_fds(struct region_dev_rec *d)
{
	const struct cmsghdr *cm = (const void *)d->ctrl_cmsg;
	unsigned n = 0;

	if (cm->cmsg_len > CMSG_LEN(0) && cm->cmsg_len <= sizeof(d->ctrl_cmsg) &&
	    cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
		unsigned cnt = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) /
		    sizeof(int));
		const int *fds = (const int *)(const void *)CMSG_DATA(cm);

		for (unsigned i = 0; i < cnt; i++) {
			if (i < REGION_MAX_FDS)
				d->ctrl_fds[n++] = fds[i];
			else
				close(fds[i]);
		}
		if (cnt > REGION_MAX_FDS)
			n = REGION_MAX_FDS; /* the rest are closed by the kernel */
	}
	d->ctrl_nfds = n;
	region_store(&d->ctrl_state, REGION_CTRL_RECEIVED);
}

/* Discards an oversized message (not kept in the region). */
static int
discard(int conn, const struct vu_hdr *h)
{
	uint64_t cbuf[8];
	struct msghdr mh;
	struct iovec iov;
	uint8_t *buf = malloc(VU_HDR_SIZE + (size_t)h->size);
	ssize_t n;

	if (buf == NULL)
		return -ENOMEM;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = buf;
	iov.iov_len = VU_HDR_SIZE + (size_t)h->size;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recvmsg(conn, &mh, MSG_WAITALL | MSG_CMSG_CLOEXEC);
	free(buf);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL;
	    cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		    i++)
			close(((int *)(void *)CMSG_DATA(cm))[i]);
	}
	return 0;
}

/*
 * Receives the next message into the region. 1: RECEIVED; 0: the peer
 * closed; -errno: local failure or a desynchronised stream.
 */
static int
receive(struct vu_dev *dev, int conn)
{
	struct region_dev_rec *d = dev->r->dev;
	struct vu_hdr h;
	struct msghdr mh;
	struct iovec iov[2];
	ssize_t n;

	if (!hdr_empty(d)) {
		/* The dead worker's recvmsg completed: take what it got. */
		take_fds(d);
		return 1;
	}
	for (;;) {
		/* Peek the header: no control buffer, so no fd installed. */
		n = recv(conn, &h, sizeof(h), MSG_PEEK | MSG_WAITALL);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				return 0;
			return -errno;
		}
		if ((size_t)n < sizeof(h)) {
			(void)poll(&(struct pollfd){ conn, POLLIN, 0 }, 1, 1);
			continue;
		}
		if (h.size <= REGION_CTRL_MAX)
			break;
		log_warnx("vhost-user request %u: %u-byte payload refused",
		    h.request, h.size);
		n = discard(conn, &h);
		if (n < 0)
			return (int)n;
	}
	memset(d->ctrl_cmsg, 0, sizeof(d->ctrl_cmsg));
	memset(&mh, 0, sizeof(mh));
	iov[0].iov_base = d->ctrl_hdr;
	iov[0].iov_len = VU_HDR_SIZE;
	iov[1].iov_base = d->ctrl_payload;
	iov[1].iov_len = h.size;
	mh.msg_iov = iov;
	mh.msg_iovlen = h.size > 0 ? 2 : 1;
	mh.msg_control = d->ctrl_cmsg;
	mh.msg_controllen = sizeof(d->ctrl_cmsg);
	/*
	 * No MSG_CMSG_CLOEXEC: the fds QEMU sends must survive the keeper's
	 * exec for a live upgrade (DESIGN 8).
	 */
	do
		n = recvmsg(conn, &mh, MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n < 0)
		return errno == ECONNRESET ? 0 : -errno;
	CRASHPOINT("vu.after_receive");
	if ((size_t)n != VU_HDR_SIZE + h.size) {
		/*
		 * Truncated (the peer closed or mixed fds into the payload):
		 * the stream cannot be resynchronised. A front-end protocol
		 * error ends the session (STYLE: drop the connection).
		 */
		take_fds(d);
		for (unsigned i = 0; i < d->ctrl_nfds; i++)
			close((int)d->ctrl_fds[i]);
		log_warnx("vhost-user request %u truncated (%zd of %u bytes): "
		    "ending the session", h.request, n, VU_HDR_SIZE + h.size);
		return 0;
	}
	take_fds(d);
	return 1;
}

/* Sends the HANDLED reply. 0 sent (or none), 1 peer gone, -errno. */
static int
send_reply(struct vu_dev *dev, int conn)
{
	struct region_dev_rec *d = dev->r->dev;
	uint64_t len = d->ctrl_reply_len, done = 0;

	if (len > sizeof(d->ctrl_reply))
		return -EPROTO;
	while (done < len) {
		ssize_t n = send(conn, d->ctrl_reply + done, len - done,
		    MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return 1;
			return -errno;
		}
		done += (uint64_t)n;
	}
	return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

int
vu_dev_create(struct vu_dev **ret, struct region *r, const struct config *cfg,
    struct fuse_session *fs)
{
	struct vu_dev *dev = calloc(1, sizeof(*dev));
	int err;

	if (dev == NULL)
		return -ENOMEM;
	dev->r = r;
	dev->cfg = cfg;
	dev->fs = fs;
	dev->nqueues = 1 + (cfg != NULL ? cfg->num_request_queues : 1);
	if (dev->nqueues < 2)
		dev->nqueues = 2;
	if (dev->nqueues > REGION_MAX_QUEUES)
		dev->nqueues = REGION_MAX_QUEUES;
	err = guestmem_init(&dev->gm);
	if (err < 0)
		goto fail;
	/*
	 * The control thread's record, claimed before recovery starts the
	 * queue threads: the lock waits they resume take a record each, and
	 * may take every free one (the control thread then found none, and
	 * every respawn died the same way).
	 */
	dev->t = queue_thread_claim(r);
	if (dev->t == NULL) {
		err = -EAGAIN;
		goto fail;
	}
	err = queue_set_create(&dev->qs, r, cfg, &dev->gm, fs);
	if (err < 0) {
		queue_thread_release(dev->t);
		goto fail;
	}
	*ret = dev;
	return 0;
fail:
	free(dev);
	return err;
}

struct recover_arg {
	struct vu_dev *dev;
	int ret;
};

static void *
recover_thread(void *p)
{
	struct recover_arg *a = p;
	struct vu_dev *dev = a->dev;
	struct region *r = dev->r;
	struct queue_recover_stats st;
	int err;

	phase_mark(PHASE_W_RTHREAD);
	if (r->dev->nmem > 0 || r->dev->mem[0].fd >= 0) {
		err = guestmem_remap_from_region(&dev->gm, r);
		if (err < 0) {
			log_warnc(err, "cannot map guest memory from the "
			    "recorded table");
			a->ret = err;
			return NULL;
		}
	}
	phase_mark(PHASE_W_MEM);
	err = queue_recover(dev->qs, &st);
	if (err < 0) {
		a->ret = err;
		return NULL;
	}
	phase_mark(PHASE_W_QUEUES);
	if (st.queues > 0)
		log_info("recovery: %u queues; publish records settled %u, "
		    "replied pushed %u, replayed %u, executing %u, dropped %u, "
		    "broken %u", st.queues, st.settled, st.pushed, st.replayed,
		    st.executing, st.dropped, st.broken);
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++) {
		err = queue_start(dev->qs, q, true);
		if (err < 0)
			log_warnc(err, "queue %u: cannot start", q);
	}
	phase_mark(PHASE_W_STARTED);
	a->ret = 0;
	return NULL;
}

int
vu_dev_recover(struct vu_dev *dev)
{
	struct recover_arg a = { dev, 0 };
	pthread_t th;
	int err;

	/* The worker's main thread carries the keeper's TID: work elsewhere. */
	err = pthread_create(&th, NULL, recover_thread, &a);
	if (err != 0)
		return -err;
	pthread_join(th, NULL);
	return a.ret;
}

int
vu_serve(struct vu_dev *dev)
{
	struct region_dev_rec *d = dev->r->dev;
	int conn = REGION_FD_CONN;
	int err = 0;

	/* Tests: the queue threads' resumed lock waits start first. */
	DELAYPOINT("vu.serve_start");
	if (dev->t == NULL)
		dev->t = queue_thread_claim(dev->r);
	if (dev->t == NULL)
		return -EAGAIN;
	dev->t->tid = (uint64_t)gettid();
	(void)fault_thread_init(dev->t);
	/* Replies go out through the ring, whose record outlives us. */
	(void)intent_thread_init(dev->r, dev->t);
	for (;;) {
		switch (region_load(&d->ctrl_state)) {
		case REGION_CTRL_IDLE:
			err = receive(dev, conn);
			if (err <= 0)
				goto out;
			break;
		case REGION_CTRL_RECEIVED:
			err = vu_dispatch(dev);
			if (err < 0)
				goto out;
			CRASHPOINT("vu.after_handled");
			break;
		case REGION_CTRL_HANDLED:
			CRASHPOINT("vu.before_send");
			err = d->ctrl_reply_len == 0 ? 0 :
			    intent_send(conn, d->ctrl_reply, d->ctrl_reply_len,
			    d->ctrl_seq);
			if (err == -ENOSYS) {
				err = send_reply(dev, conn);
			} else if (err == -EPIPE || err == -ECONNRESET) {
				err = 1;
			} else if (err >= 0 &&
			    (uint64_t)err != d->ctrl_reply_len) {
				err = -EIO; /* a short send: stream broken */
			} else if (err > 0) {
				err = 0;
			}
			if (err != 0) {
				intent_send_seen();
				err = err > 0 ? 0 : err;
				goto out;
			}
			/* SENT before the completion is consumed (DESIGN 7). */
			region_store(&d->ctrl_state, REGION_CTRL_SENT);
			intent_send_seen();
			break;
		case REGION_CTRL_SENT:
		default:
			reset_idle(d);
			break;
		}
	}
out:
	if (err == 0) {
		/* The peer is gone: finish what is in flight, then exit. */
		queue_stop_all(dev->qs);
		log_info("vhost-user connection closed");
	}
	queue_thread_release(dev->t);
	dev->t = NULL;
	return err;
}
