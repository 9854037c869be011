// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vuf: the vhost-user-fs front-end library (what QEMU does for a
 * vhost-user-fs-pci device), used by tests and benchmarks in place of a
 * guest. It owns the backend socket, the memfd guest RAM (mapped once
 * here; advertised as one or two regions whose guest-physical base and
 * user addresses differ, so a backend that confuses them fails loudly),
 * and split virtqueues placed in that RAM. Invariants: only this file
 * writes avail rings and descriptor tables through the high-level calls;
 * the free list lives in vq->next (our memory), so raw descriptor writes
 * by hostile tests cannot corrupt it; each head is in flight at most once,
 * and a completion for a head not in flight is a counted protocol error.
 */
#include "vuf.h"

#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vhost_types.h>

#define PAGE	      4096u
#define ALIGN_PAGE(x) (((x) + PAGE - 1) & ~(size_t)(PAGE - 1))
#define MIN(a, b)     ((a) < (b) ? (a) : (b))
#define nitems_(a)    (sizeof(a) / sizeof((a)[0]))

struct vuf_mem_table_rec {
	uint32_t nregions;
	uint32_t padding;
	struct vuf_region_rec regions[VUF_MAX_REGIONS];
};

uint64_t
vuf_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void
vuf_opts_default(struct vuf_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mem_size = 64u << 20;
	o->gpa_base = 1ull << 32;
	o->nregions = 2;
	o->queue_size = 128;
	o->nreq_queues = 1;
	o->timeout_ms = 5000;
}

static void
seterr(struct vuf_dev *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
seterr(struct vuf_dev *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
}

/* ---- guest memory ---- */

static int
mem_create(struct vuf_dev *d)
{
	size_t size = ALIGN_PAGE(d->o.mem_size);
	size_t half;

	d->memfd = memfd_create("vuf-guest-ram", MFD_CLOEXEC);
	if (d->memfd < 0)
		return -errno;
	if (ftruncate(d->memfd, (off_t)size) < 0)
		return -errno;
	d->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
	    d->memfd, 0);
	if (d->mem == MAP_FAILED) {
		d->mem = NULL;
		return -errno;
	}
	d->mem_size = size;
	d->npages = size / PAGE;
	d->pagemap = calloc(d->npages, 1);
	if (d->pagemap == NULL)
		return -ENOMEM;
	d->nregions = d->o.nregions == 2 ? 2 : 1;
	half = d->nregions == 2 ? ALIGN_PAGE(size / 2) : size;
	d->regions[0].gpa = d->o.gpa_base;
	d->regions[0].size = half;
	d->regions[0].uaddr = (uint64_t)(uintptr_t)d->mem;
	d->regions[0].mmap_offset = 0;
	if (d->nregions == 2) {
		/* A 1 GiB hole between the regions, as below/above 4G. */
		d->regions[1].gpa = d->o.gpa_base + half + (1ull << 30);
		d->regions[1].size = size - half;
		d->regions[1].uaddr = (uint64_t)(uintptr_t)(d->mem + half);
		d->regions[1].mmap_offset = half;
		/* Last page of region 0 is never handed out, so no
		 * allocation straddles the guest-physical hole. */
		d->pagemap[half / PAGE - 1] = 1;
	}
	return 0;
}

void *
vuf_alloc(struct vuf_dev *d, size_t len)
{
	size_t n = (len + PAGE - 1) / PAGE, run = 0, i, start, scanned;

	if (n == 0)
		n = 1;
	if (n > d->npages)
		return NULL;
	i = d->page_hint % d->npages;
	start = i;
	for (scanned = 0; scanned < d->npages + n; scanned++) {
		if (i >= d->npages) {
			i = 0;
			run = 0;
		}
		if (d->pagemap[i]) {
			run = 0;
		} else if (++run == n) {
			size_t first = i + 1 - n;

			memset(d->pagemap + first, 1, n);
			d->page_hint = i + 1;
			memset(d->mem + first * PAGE, 0, n * PAGE);
			return d->mem + first * PAGE;
		}
		i++;
	}
	(void)start;
	return NULL;
}

void
vuf_free(struct vuf_dev *d, void *p, size_t len)
{
	size_t n = (len + PAGE - 1) / PAGE, first;

	if (p == NULL)
		return;
	if (n == 0)
		n = 1;
	first = (size_t)((uint8_t *)p - d->mem) / PAGE;
	memset(d->pagemap + first, 0, n);
}

uint64_t
vuf_gpa(const struct vuf_dev *d, const void *p)
{
	uint64_t off = (uint64_t)((const uint8_t *)p - d->mem);

	for (unsigned i = 0; i < d->nregions; i++) {
		const struct vuf_region_rec *r = &d->regions[i];

		if (off >= r->mmap_offset && off - r->mmap_offset < r->size)
			return r->gpa + (off - r->mmap_offset);
	}
	return UINT64_MAX;
}

void *
vuf_ptr(const struct vuf_dev *d, uint64_t gpa, size_t len)
{
	for (unsigned i = 0; i < d->nregions; i++) {
		const struct vuf_region_rec *r = &d->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size &&
		    len <= r->size - (gpa - r->gpa))
			return d->mem + r->mmap_offset + (gpa - r->gpa);
	}
	return NULL;
}

uint64_t
vuf_gpa_end(const struct vuf_dev *d)
{
	const struct vuf_region_rec *r = &d->regions[d->nregions - 1];

	return r->gpa + r->size;
}

/* ---- socket ---- */

int
vuf_raw_send(struct vuf_dev *d, const void *buf, size_t len, const int *fds,
    int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	struct iovec iov = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (nfds > 16)
		return -EINVAL;
	if (nfds > 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	do {
		n = sendmsg(d->sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		d->closed = true;
		return -errno;
	}
	if ((size_t)n < len) {
		/* The rest without fds. */
		size_t off = (size_t)n;

		while (off < len) {
			n = send(d->sock, (const char *)buf + off, len - off,
			    MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				d->closed = true;
				return n < 0 ? -errno : -EPIPE;
			}
			off += (size_t)n;
		}
	}
	return 0;
}

int
vuf_msg_send(struct vuf_dev *d, uint32_t req, uint32_t flags,
    const void *payload, uint32_t size, const int *fds, int nfds)
{
	uint8_t buf[VUF_HDR_SIZE + 512];
	uint32_t h[3] = {req, flags | VUF_FLAG_VERSION, size};

	if (size > sizeof(buf) - VUF_HDR_SIZE)
		return -EINVAL;
	memcpy(buf, h, VUF_HDR_SIZE);
	if (size)
		memcpy(buf + VUF_HDR_SIZE, payload, size);
	return vuf_raw_send(d, buf, VUF_HDR_SIZE + size, fds, nfds);
}

static int
read_full(struct vuf_dev *d, void *buf, size_t len, uint64_t deadline)
{
	size_t off = 0;

	while (off < len) {
		struct pollfd p = {.fd = d->sock, .events = POLLIN};
		int64_t left = (int64_t)(deadline - vuf_now_ns()) / 1000000;
		ssize_t n;
		int r;

		if (left < 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(d->sock, (char *)buf + off, len - off, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			d->closed = true;
			return n < 0 ? -errno : -EPIPE;
		}
		off += (size_t)n;
	}
	return 0;
}

int
vuf_msg_recv(struct vuf_dev *d, uint32_t req, void *payload, size_t max,
    int timeout_ms)
{
	uint64_t deadline = vuf_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	uint32_t h[3];
	uint8_t junk[256];
	uint32_t left;
	int r;

	r = read_full(d, h, sizeof(h), deadline);
	if (r < 0)
		return r;
	if (!(h[1] & VUF_FLAG_REPLY) || (h[1] & 0x3) != VUF_FLAG_VERSION) {
		seterr(d, "reply to %u: bad flags 0x%x", req, h[1]);
		return -EPROTO;
	}
	if (h[2] > 4096) {
		seterr(d, "reply to %u: size %u", req, h[2]);
		return -EPROTO;
	}
	r = read_full(d, payload, MIN(max, h[2]), deadline);
	if (r < 0)
		return r;
	for (left = h[2] - (uint32_t)MIN(max, h[2]); left > 0;) {
		uint32_t n = MIN(left, (uint32_t)sizeof(junk));

		r = read_full(d, junk, n, deadline);
		if (r < 0)
			return r;
		left -= n;
	}
	if (h[0] != req) {
		seterr(d, "reply to %u carries request %u", req, h[0]);
		return -EPROTO;
	}
	return (int)MIN(max, h[2]);
}

int
vuf_get_u64(struct vuf_dev *d, uint32_t req, uint64_t *ret)
{
	uint64_t v = 0;
	int r;

	r = vuf_msg_send(d, req, 0, NULL, 0, NULL, 0);
	if (r < 0)
		return r;
	r = vuf_msg_recv(d, req, &v, sizeof(v), d->o.timeout_ms);
	if (r < 0)
		return r;
	if (r != sizeof(v)) {
		seterr(d, "reply to %u: %d bytes, want 8", req, r);
		return -EPROTO;
	}
	*ret = v;
	return 0;
}

int
vuf_msg_ack(struct vuf_dev *d, uint32_t req, const void *payload,
    uint32_t size, const int *fds, int nfds)
{
	bool ack = d->packed & (1ull << VUF_PF_REPLY_ACK);
	uint64_t v = 0;
	int r;

	r = vuf_msg_send(d, req, ack ? VUF_FLAG_NEED_REPLY : 0, payload, size,
	    fds, nfds);
	if (r < 0 || !ack)
		return r;
	r = vuf_msg_recv(d, req, &v, sizeof(v), d->o.timeout_ms);
	if (r < 0)
		return r;
	return v == 0 ? 0 : -EIO;
}

bool
vuf_alive(struct vuf_dev *d)
{
	struct pollfd p = {.fd = d->sock, .events = POLLIN | POLLRDHUP};
	char c;

	if (d->closed)
		return false;
	if (poll(&p, 1, 0) <= 0)
		return true;
	if (p.revents & (POLLHUP | POLLERR | POLLRDHUP)) {
		d->closed = true;
		return false;
	}
	if (recv(d->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
		d->closed = true;
		return false;
	}
	return true;
}

/* ---- device ---- */

static int
vq_create(struct vuf_dev *d, unsigned idx)
{
	struct vuf_vq *vq = &d->vq[idx];
	unsigned num = d->o.queue_size;
	size_t dsz = 16u * num, asz = 6u + 2u * num, usz = 6u + 8u * num;
	uint8_t *p;

	memset(vq, 0, sizeof(*vq));
	vq->dev = d;
	vq->idx = idx;
	vq->num = num;
	vq->kickfd = vq->callfd = -1;
	p = vuf_alloc(d, dsz + asz);
	if (p == NULL)
		return -ENOMEM;
	vq->desc = (struct vring_desc *)p;
	vq->avail = (struct vring_avail *)(p + dsz);
	vq->used = vuf_alloc(d, usz);
	if (vq->used == NULL)
		return -ENOMEM;
	vq->desc_gpa = vuf_gpa(d, vq->desc);
	vq->avail_gpa = vuf_gpa(d, vq->avail);
	vq->used_gpa = vuf_gpa(d, vq->used);
	vq->next = calloc(num, sizeof(*vq->next));
	vq->heads = calloc(num, sizeof(*vq->heads));
	if (vq->next == NULL || vq->heads == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < num; i++)
		vq->next[i] = (uint16_t)((i + 1) % num);
	vq->free_head = 0;
	vq->nfree = num;
	vq->kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	vq->callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vq->kickfd < 0 || vq->callfd < 0)
		return -errno;
	return 0;
}

int
vuf_open(const char *path, const struct vuf_opts *o, struct vuf_dev **ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct vuf_dev *d;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	d->memfd = -1;
	if (o)
		d->o = *o;
	else
		vuf_opts_default(&d->o);
	if (d->o.mem_size == 0)
		d->o.mem_size = 64u << 20;
	if (d->o.queue_size == 0)
		d->o.queue_size = 128;
	if (d->o.timeout_ms == 0)
		d->o.timeout_ms = 5000;
	if (d->o.nreq_queues == 0)
		d->o.nreq_queues = 1;
	if (d->o.queue_size > 32768 ||
	    (d->o.queue_size & (d->o.queue_size - 1))) {
		free(d);
		return -EINVAL;
	}
	strcpy(sa.sun_path, path);
	d->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->sock < 0) {
		r = -errno;
		free(d);
		return r;
	}
	if (connect(d->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		close(d->sock);
		free(d);
		return r;
	}
	r = mem_create(d);
	if (r < 0) {
		vuf_close(d);
		return r;
	}
	*ret = d;
	return 0;
}

static int
vq_start(struct vuf_dev *d, struct vuf_vq *vq, uint16_t base)
{
	struct vhost_vring_state st = {.index = vq->idx, .num = vq->num};
	struct vhost_vring_addr a = {
		.index = vq->idx,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
	};
	uint64_t u;
	int r;

	vq->event_idx = d->acked & (1ull << VUF_F_EVENT_IDX);
	if ((r = vuf_msg_ack(d, VUF_SET_VRING_NUM, &st, sizeof(st), NULL, 0)))
		return r;
	st.num = base;
	if ((r = vuf_msg_ack(d, VUF_SET_VRING_BASE, &st, sizeof(st), NULL, 0)))
		return r;
	if ((r = vuf_msg_ack(d, VUF_SET_VRING_ADDR, &a, sizeof(a), NULL, 0)))
		return r;
	u = vq->idx;
	r = vuf_msg_ack(d, VUF_SET_VRING_KICK, &u, sizeof(u), &vq->kickfd, 1);
	if (r)
		return r;
	r = vuf_msg_ack(d, VUF_SET_VRING_CALL, &u, sizeof(u), &vq->callfd, 1);
	if (r)
		return r;
	if (d->acked & (1ull << VUF_F_PROTOCOL_FEATURES)) {
		st.num = 1;
		r = vuf_msg_ack(d, VUF_SET_VRING_ENABLE, &st, sizeof(st), NULL,
		    0);
		if (r)
			return r;
	}
	return 0;
}

int
vuf_handshake(struct vuf_dev *d)
{
	struct vuf_mem_table_rec mt = {0};
	int fds[2] = {d->memfd, d->memfd};
	unsigned want;
	uint64_t v;
	int r;

	if ((r = vuf_get_u64(d, VUF_GET_FEATURES, &d->features)) < 0)
		return r;
	if (!(d->features & (1ull << VUF_F_VERSION_1))) {
		seterr(d, "backend lacks VIRTIO_F_VERSION_1");
		return -ENOTSUP;
	}
	if (d->features & (1ull << VUF_F_PROTOCOL_FEATURES)) {
		r = vuf_get_u64(d, VUF_GET_PROTOCOL_FEATURES, &d->pfeatures);
		if (r < 0)
			return r;
		v = d->pfeatures & ((1ull << VUF_PF_MQ) |
		    (1ull << VUF_PF_REPLY_ACK) | (1ull << VUF_PF_RESET_DEVICE));
		r = vuf_msg_send(d, VUF_SET_PROTOCOL_FEATURES, 0, &v,
		    sizeof(v), NULL, 0);
		if (r < 0)
			return r;
		d->packed = v;
		if (v & (1ull << VUF_PF_MQ)) {
			r = vuf_get_u64(d, VUF_GET_QUEUE_NUM,
			    &d->backend_queues);
			if (r < 0)
				return r;
		}
	}
	want = 1 + d->o.nreq_queues;
	if (want > VUF_MAX_QUEUES)
		want = VUF_MAX_QUEUES;
	if (d->backend_queues && want > d->backend_queues)
		want = (unsigned)d->backend_queues;
	if (want < 2)
		want = 2;
	if ((r = vuf_msg_ack(d, VUF_SET_OWNER, NULL, 0, NULL, 0)) < 0)
		return r;
	d->acked = (1ull << VUF_F_VERSION_1) |
	    (d->features & ((1ull << VUF_F_INDIRECT_DESC) |
	    (1ull << VUF_F_PROTOCOL_FEATURES)));
	if (!d->o.no_event_idx)
		d->acked |= d->features & (1ull << VUF_F_EVENT_IDX);
	r = vuf_msg_ack(d, VUF_SET_FEATURES, &d->acked, sizeof(d->acked),
	    NULL, 0);
	if (r < 0)
		return r;
	d->nvq = want;
	for (unsigned i = 0; i < d->nvq; i++)
		if ((r = vq_create(d, i)) < 0)
			return r;
	mt.nregions = d->nregions;
	memcpy(mt.regions, d->regions, sizeof(d->regions[0]) * d->nregions);
	r = vuf_msg_ack(d, VUF_SET_MEM_TABLE, &mt,
	    (uint32_t)(8 + sizeof(mt.regions[0]) * d->nregions), fds,
	    (int)d->nregions);
	if (r < 0) {
		seterr(d, "SET_MEM_TABLE: %s", strerror(-r));
		return r;
	}
	for (unsigned i = 0; i < d->nvq; i++)
		if ((r = vq_start(d, &d->vq[i], 0)) < 0) {
			seterr(d, "starting queue %u: %s", i, strerror(-r));
			return r;
		}
	return 0;
}

int
vuf_connect(const char *path, const struct vuf_opts *o, struct vuf_dev **ret)
{
	struct vuf_dev *d;
	int r;

	if ((r = vuf_open(path, o, &d)) < 0)
		return r;
	if ((r = vuf_handshake(d)) < 0) {
		vuf_close(d);
		return r;
	}
	*ret = d;
	return 0;
}

/* GET_VRING_BASE on every queue; vq->base keeps each answer. */
static int
get_bases(struct vuf_dev *d)
{
	int r = 0;

	for (unsigned i = 0; i < d->nvq && r >= 0; i++) {
		struct vhost_vring_state st = {.index = i};

		r = vuf_msg_send(d, VUF_GET_VRING_BASE, 0, &st, sizeof(st),
		    NULL, 0);
		if (r >= 0)
			r = vuf_msg_recv(d, VUF_GET_VRING_BASE, &st,
			    sizeof(st), d->o.timeout_ms);
		if (r >= 0)
			d->vq[i].base = (uint16_t)st.num;
	}
	return r;
}

int
vuf_stop(struct vuf_dev *d)
{
	int r = get_bases(d);

	if (r >= 0 && (d->packed & (1ull << VUF_PF_RESET_DEVICE)))
		r = vuf_msg_ack(d, VUF_RESET_DEVICE, NULL, 0, NULL, 0);
	return r < 0 ? r : 0;
}

/* Frees a queue's eventfds and heap (its ring memory stays allocated). */
static void
vq_free(struct vuf_vq *vq)
{
	if (vq->dev == NULL)
		return;
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	if (vq->callfd >= 0)
		close(vq->callfd);
	free(vq->next);
	free(vq->heads);
	memset(vq, 0, sizeof(*vq));
}

int
vuf_renew(struct vuf_dev *d)
{
	/* What a guest's virtio reset leaves: no rings; new ones follow. */
	for (unsigned i = 0; i < d->nvq; i++)
		vq_free(&d->vq[i]);
	return vuf_handshake(d);
}

int
vuf_restart(struct vuf_dev *d)
{
	int r = vuf_stop(d);

	return r < 0 ? r : vuf_renew(d);
}

int
vuf_pause(struct vuf_dev *d)
{
	int r = 0;

	if (d->acked & (1ull << VUF_F_PROTOCOL_FEATURES))
		for (unsigned i = 0; i < d->nvq && r >= 0; i++) {
			struct vhost_vring_state st = {.index = i, .num = 0};

			r = vuf_msg_ack(d, VUF_SET_VRING_ENABLE, &st,
			    sizeof(st), NULL, 0);
		}
	if (r >= 0)
		r = get_bases(d);
	return r < 0 ? r : 0;
}

int
vuf_resume(struct vuf_dev *d)
{
	struct vuf_mem_table_rec mt = {0};
	int fds[2] = {d->memfd, d->memfd};
	int r;

	r = vuf_msg_ack(d, VUF_SET_FEATURES, &d->acked, sizeof(d->acked),
	    NULL, 0);
	if (r < 0)
		return r;
	mt.nregions = d->nregions;
	memcpy(mt.regions, d->regions, sizeof(d->regions[0]) * d->nregions);
	r = vuf_msg_ack(d, VUF_SET_MEM_TABLE, &mt,
	    (uint32_t)(8 + sizeof(mt.regions[0]) * d->nregions), fds,
	    (int)d->nregions);
	for (unsigned i = 0; i < d->nvq && r >= 0; i++)
		r = vq_start(d, &d->vq[i], d->vq[i].base);
	return r < 0 ? r : 0;
}

void
vuf_close(struct vuf_dev *d)
{
	if (d == NULL)
		return;
	if (d->sock >= 0)
		close(d->sock);
	for (unsigned i = 0; i < VUF_MAX_QUEUES; i++)
		vq_free(&d->vq[i]);
	if (d->mem)
		munmap(d->mem, d->mem_size);
	if (d->memfd >= 0)
		close(d->memfd);
	free(d->pagemap);
	free(d);
}

/* ---- virtqueues ---- */

int
vuf_vq_get_desc(struct vuf_vq *vq, unsigned n, uint16_t *ret_idx)
{
	uint16_t h;

	if (n == 0 || n > vq->nfree)
		return -ENOSPC;
	h = vq->free_head;
	for (unsigned i = 0; i < n; i++) {
		ret_idx[i] = h;
		h = vq->next[h];
	}
	vq->free_head = h;
	vq->nfree -= n;
	return 0;
}

void
vuf_vq_set_desc(struct vuf_vq *vq, uint16_t i, uint64_t addr, uint32_t len,
    uint16_t flags, uint16_t next)
{
	struct vring_desc *dsc = &vq->desc[i % vq->num];

	dsc->addr = addr;
	dsc->len = len;
	dsc->flags = flags;
	dsc->next = next;
}

static void
avail_push(struct vuf_vq *vq, uint16_t value)
{
	vq->avail->ring[vq->avail_idx % vq->num] = value;
	vq->avail_idx++;
	/* Orders the ring entry (and descriptors) before the index the
	 * backend polls in vu_queue_pop-like code. */
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

int
vuf_vq_publish(struct vuf_vq *vq, uint16_t head, unsigned ndesc,
    void *cookie, void *indirect)
{
	struct vuf_head *h;

	if (head >= vq->num)
		return -EINVAL;
	h = &vq->heads[head];
	if (h->inflight)
		return -EBUSY;
	h->inflight = true;
	h->cookie = cookie;
	h->ndesc = (uint16_t)ndesc;
	h->indirect = indirect;
	h->t_pub = vuf_now_ns();
	vq->inflight++;
	avail_push(vq, head);
	return 0;
}

void
vuf_vq_publish_raw(struct vuf_vq *vq, uint16_t head_value)
{
	avail_push(vq, head_value);
}

int
vuf_vq_add(struct vuf_vq *vq, const struct vuf_buf *bufs, unsigned nout,
    unsigned nin, void *cookie, bool indirect)
{
	unsigned n = nout + nin;
	uint16_t idx[64];
	int r;

	if (n == 0 || n > nitems_(idx))
		return -EINVAL;
	if (indirect && n > 1 &&
	    (vq->dev->acked & (1ull << VUF_F_INDIRECT_DESC))) {
		struct vring_desc *t = vuf_alloc(vq->dev, 16u * n);

		if (t == NULL)
			return -ENOSPC;
		if ((r = vuf_vq_get_desc(vq, 1, idx)) < 0) {
			vuf_free(vq->dev, t, 16u * n);
			return r;
		}
		for (unsigned i = 0; i < n; i++) {
			t[i].addr = vuf_gpa(vq->dev, bufs[i].p);
			t[i].len = bufs[i].len;
			t[i].flags = (uint16_t)((i + 1 < n ? VRING_DESC_F_NEXT :
			    0) | (i >= nout ? VRING_DESC_F_WRITE : 0));
			t[i].next = (uint16_t)(i + 1 < n ? i + 1 : 0);
		}
		vuf_vq_set_desc(vq, idx[0], vuf_gpa(vq->dev, t), 16u * n,
		    VRING_DESC_F_INDIRECT, 0);
		vq->heads[idx[0]].indirect = NULL;
		r = vuf_vq_publish(vq, idx[0], 1, cookie, t);
		if (r == 0)
			vq->heads[idx[0]].ndesc = 1;
		return r;
	}
	if ((r = vuf_vq_get_desc(vq, n, idx)) < 0)
		return r;
	for (unsigned i = 0; i < n; i++)
		vuf_vq_set_desc(vq, idx[i], vuf_gpa(vq->dev, bufs[i].p),
		    bufs[i].len,
		    (uint16_t)((i + 1 < n ? VRING_DESC_F_NEXT : 0) |
		    (i >= nout ? VRING_DESC_F_WRITE : 0)),
		    i + 1 < n ? idx[i + 1] : 0);
	return vuf_vq_publish(vq, idx[0], n, cookie, NULL);
}

int
vuf_vq_kick(struct vuf_vq *vq)
{
	static const uint64_t one = 1;
	bool need;

	/* Orders our avail->idx store before reading the backend's
	 * avail_event / used->flags, pairing with its own full barrier. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx) {
		uint16_t ev = __atomic_load_n(
		    (uint16_t *)&vq->used->ring[vq->num], __ATOMIC_RELAXED);
		uint16_t new_idx = vq->avail_idx;
		uint16_t old = vq->kicked_idx;

		need = (uint16_t)(new_idx - ev - 1) < (uint16_t)(new_idx - old);
		vq->kicked_idx = new_idx;
	} else {
		need = !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) &
		    VRING_USED_F_NO_NOTIFY);
	}
	if (!need)
		return 0;
	vq->kicks++;
	if (write(vq->kickfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 1;
}

static void
free_chain(struct vuf_vq *vq, uint16_t head)
{
	struct vuf_head *h = &vq->heads[head];
	uint16_t last = head;

	for (unsigned i = 1; i < h->ndesc; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->nfree += h->ndesc;
	if (h->indirect)
		vuf_free(vq->dev, h->indirect, 16u * 64);
	h->indirect = NULL;
	h->inflight = false;
	vq->inflight--;
}

int
vuf_vq_harvest(struct vuf_vq *vq, struct vuf_used *out, unsigned max)
{
	uint16_t uidx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	unsigned n = 0;

	if ((uint16_t)(uidx - vq->last_used) > vq->num && !vq->broken) {
		vq->proto_errors++;
		seterr(vq->dev, "queue %u: used idx jumped %u -> %u", vq->idx,
		    vq->last_used, uidx);
		vq->broken = true;
	}
	if (vq->broken)
		return 0;
	while (vq->last_used != uidx && n < max) {
		struct vring_used_elem e = vq->used->ring[vq->last_used % vq->num];
		struct vuf_used *u = &out[n++];

		vq->last_used++;
		u->id = e.id;
		u->len = e.len;
		u->cookie = NULL;
		u->bad = false;
		u->lat_ns = 0;
		if (e.id >= vq->num || !vq->heads[e.id].inflight) {
			u->bad = true;
			vq->proto_errors++;
			seterr(vq->dev, "queue %u: completion of head %u %s",
			    vq->idx, e.id, e.id >= vq->num ? "out of range" :
			    "not in flight (double completion?)");
			continue;
		}
		u->cookie = vq->heads[e.id].cookie;
		u->lat_ns = vuf_now_ns() - vq->heads[e.id].t_pub;
		free_chain(vq, (uint16_t)e.id);
	}
	if (vq->event_idx)
		__atomic_store_n((uint16_t *)&vq->avail->ring[vq->num],
		    vq->last_used, __ATOMIC_RELEASE);
	return (int)n;
}

static bool
vq_ready(struct vuf_vq *vq)
{
	return !vq->broken && __atomic_load_n(&vq->used->idx,
	    __ATOMIC_ACQUIRE) != vq->last_used;
}

static int
wait_set(struct vuf_dev *d, struct vuf_vq **vqs, unsigned n, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
	    vuf_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct pollfd p[VUF_MAX_QUEUES + 1];

	for (;;) {
		uint64_t junk, now;
		int r, t;

		for (unsigned i = 0; i < n; i++) {
			if (vq_ready(vqs[i]))
				return 1;
			if (vqs[i]->event_idx) {
				__atomic_store_n(
				    (uint16_t *)&vqs[i]->avail->ring[vqs[i]->num],
				    vqs[i]->last_used, __ATOMIC_RELEASE);
				/* used_event store before re-reading
				 * used->idx: pairs with the backend's
				 * barrier between used idx and used_event */
				__atomic_thread_fence(__ATOMIC_SEQ_CST);
				if (vq_ready(vqs[i]))
					return 1;
			}
		}
		if (d->closed)
			return -EPIPE;
		now = vuf_now_ns();
		if (now >= deadline)
			return 0;
		t = deadline == UINT64_MAX ? 1000 :
		    (int)MIN((deadline - now + 999999) / 1000000, 1000);
		for (unsigned i = 0; i < n; i++)
			p[i] = (struct pollfd){.fd = vqs[i]->callfd,
			    .events = POLLIN};
		p[n] = (struct pollfd){.fd = d->sock,
		    .events = POLLIN | POLLRDHUP};
		r = poll(p, n + 1, t);
		if (r < 0 && errno != EINTR)
			return -errno;
		for (unsigned i = 0; i < n; i++)
			if (r > 0 && (p[i].revents & POLLIN)) {
				vqs[i]->calls++;
				if (read(vqs[i]->callfd, &junk,
				    sizeof(junk)) < 0) {
					/* EAGAIN: raced with another read */
				}
			}
		if (r > 0 && p[n].revents) {
			char buf[256];
			ssize_t k = recv(d->sock, buf, sizeof(buf),
			    MSG_DONTWAIT);

			/* EOF ends the device; stray bytes (late replies
			 * to hostile messages) are dropped. */
			if (k == 0 || (k < 0 && errno != EAGAIN &&
			    errno != EINTR)) {
				d->closed = true;
			}
		}
	}
}

int
vuf_vq_wait(struct vuf_vq *vq, int timeout_ms)
{
	return wait_set(vq->dev, &vq, 1, timeout_ms);
}

int
vuf_wait_any(struct vuf_dev *d, int timeout_ms)
{
	struct vuf_vq *vqs[VUF_MAX_QUEUES];

	for (unsigned i = 0; i < d->nvq; i++)
		vqs[i] = &d->vq[i];
	return wait_set(d, vqs, d->nvq, timeout_ms);
}
