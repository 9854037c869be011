/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libFuzzer target for the vhost-user control plane (vu_dispatch.c and the
 * guest memory table it builds, guestmem.c). An input is a sequence of
 * messages as vu.c's receive() would leave them in the region: header,
 * payload and fds; each is handed to vu_dispatch() against one device that
 * lives for the whole input, then settled as vu_serve() would (HANDLED ->
 * IDLE). Queue threads the messages start really run (the rings live in
 * memfds the fuzzer's SET_MEM_TABLE maps, zero-filled: nothing to pop).
 *
 * Between inputs the device is put back: queue threads stopped, an empty
 * memory table installed, every fd the input created (or the code under
 * test leaked) closed, and the region's device and thread records
 * restored from a snapshot taken after setup.
 *
 * Message record (repeated, at most MAX_MSGS):
 *   12 bytes vu_hdr (request, flags, size: as the peer sent them)
 *   1 byte  fd count (low 4 bits, > 8 means 8 as take_fds() caps) and
 *           memfd size (high 4 bits: 4 KiB << n)
 *   1 byte  fd kinds (bit i: fd i is a memfd, else an eventfd)
 *   size bytes of payload (a message cut short by the input's end is
 *   dropped, as vu.c ends such a session)
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "guestmem.h"
#include "log.h"
#include "queue.h"
#include "region.h"
#include "vu.h"
#include "vu_dispatch.h"
#include "vu_proto.h"

#define MAX_MSGS 16
#define FD_LIMIT 4096

static struct region r;
static struct config cfg;
static struct vu_dev *dev;
static struct region_dev_rec *dev_snap;
static struct region_thread_rec *thr_snap;
static bool init_fd[FD_LIMIT];

static void
mark_open_fds(bool *set)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	if (d == NULL)
		abort();
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && fd < FD_LIMIT &&
		    fd != dirfd(d))
			set[fd] = true;
	}
	closedir(d);
}

static void
setup(void)
{
	struct region_params p = { .max_inodes = 16, .max_handles = 16 };

	log_init(getenv("PHX_FUZZ_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR, false);
	if (region_create(&r, &p) < 0)
		abort();
	memset(&cfg, 0, sizeof(cfg)); /* config_defaults() is private */
	cfg.cache = CONFIG_CACHE_AUTO;
	cfg.readdirplus = true;
	cfg.num_request_queues = 1;
	cfg.quarantine_crashes = 3;
	cfg.journal = true;
	if (vu_dev_create(&dev, &r, &cfg, NULL) < 0)
		abort();
	dev->t = queue_thread_claim(&r);
	if (dev->t == NULL)
		abort();
	dev_snap = malloc(sizeof(*dev_snap));
	thr_snap = malloc(sizeof(*thr_snap) * REGION_MAX_THREADS);
	if (dev_snap == NULL || thr_snap == NULL)
		abort();
	for (unsigned i = 0; i < REGION_MAX_FDS; i++)
		r.dev->ctrl_fds[i] = -1;
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++)
		r.dev->queue[q].kick_fd = r.dev->queue[q].call_fd =
		    r.dev->queue[q].err_fd = -1;
	for (unsigned i = 0; i < REGION_MAX_MEM; i++)
		r.dev->mem[i].fd = -1;
	memcpy(dev_snap, r.dev, sizeof(*dev_snap));
	memcpy(thr_snap, r.threads, sizeof(*thr_snap) * REGION_MAX_THREADS);
	mark_open_fds(init_fd);
}

static void
reset(void)
{
	bool now[FD_LIMIT];
	struct guestmem_table *empty;

	queue_stop_all(dev->qs);
	if (guestmem_build(NULL, 0, &empty) < 0)
		abort();
	guestmem_install(&dev->gm, empty);
	memset(now, 0, sizeof(now));
	mark_open_fds(now);
	for (int fd = 0; fd < FD_LIMIT; fd++)
		if (now[fd] && !init_fd[fd])
			close(fd);
	memcpy(r.dev, dev_snap, sizeof(*dev_snap));
	memcpy(r.threads, thr_snap, sizeof(*thr_snap) * REGION_MAX_THREADS);
}

/* An fd of the kind asked for, numbered >= 600 (clear of the test's own). */
static int
make_fd(bool mem, unsigned shift)
{
	int fd, hi;

	if (mem) {
		fd = memfd_create("fuzzmem", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, (off_t)4096 << shift) < 0) {
			close(fd);
			fd = -1;
		}
	} else {
		fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	}
	if (fd < 0)
		abort();
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 600);
	close(fd);
	if (hi < 0)
		abort();
	return hi;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct region_dev_rec *d;
	size_t pos = 0;

	if (dev == NULL)
		setup();
	d = r.dev;
	for (unsigned m = 0; m < MAX_MSGS && size - pos >= VU_HDR_SIZE + 2;
	    m++) {
		struct vu_hdr h;
		unsigned nfds = data[pos + VU_HDR_SIZE] & 0xf;
		unsigned shift = data[pos + VU_HDR_SIZE] >> 4;
		unsigned kinds = data[pos + VU_HDR_SIZE + 1];

		memcpy(&h, data + pos, sizeof(h));
		pos += VU_HDR_SIZE + 2;
		if (h.size > size - pos)
			break; /* truncated: the session ends */
		if (h.size > REGION_CTRL_MAX) {
			pos += h.size; /* discarded by receive() */
			continue;
		}
		if (nfds > REGION_MAX_FDS)
			nfds = REGION_MAX_FDS;
		memcpy(d->ctrl_hdr, &h, sizeof(h));
		memcpy(d->ctrl_payload, data + pos, h.size);
		pos += h.size;
		for (unsigned i = 0; i < REGION_MAX_FDS; i++)
			d->ctrl_fds[i] = i < nfds ?
			    make_fd(kinds & 1u << i, shift) : -1;
		d->ctrl_nfds = nfds;
		region_store(&d->ctrl_state, REGION_CTRL_RECEIVED);
		if (vu_dispatch(dev) < 0)
			break; /* redo log full: the worker would die */
		if (region_load(&d->ctrl_state) != REGION_CTRL_HANDLED ||
		    d->ctrl_reply_len > sizeof(d->ctrl_reply))
			abort();
		/* SENT -> IDLE, as vu_serve() settles it. */
		for (unsigned i = 0; i < REGION_MAX_FDS; i++)
			d->ctrl_fds[i] = -1;
		d->ctrl_nfds = 0;
		d->ctrl_reply_len = 0;
		region_store(&d->ctrl_state, REGION_CTRL_IDLE);
	}
	reset();
	return 0;
}
