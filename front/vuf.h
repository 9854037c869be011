/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vuf: a vhost-user-fs front-end (the role QEMU plays) for tests and
 * benchmarks. It owns the socket to the backend, the memfd "guest RAM"
 * (mapped here, shared with the backend through SET_MEM_TABLE), and the
 * split virtqueues laid out in that memory. Queue 0 is hiprio, queues
 * 1..N are request queues.
 *
 * Threading: a vuf_dev and its queues belong to one thread; nothing here
 * locks. Errors are returned as -errno; the library never exits or logs
 * except through vuf_dev.err (last protocol error text).
 */
#ifndef PHX_VUF_H
#define PHX_VUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/virtio_ring.h>

/* vhost-user request codes (docs/interop/vhost-user.rst). */
enum {
	VUF_GET_FEATURES = 1,
	VUF_SET_FEATURES = 2,
	VUF_SET_OWNER = 3,
	VUF_RESET_OWNER = 4,
	VUF_SET_MEM_TABLE = 5,
	VUF_SET_LOG_BASE = 6,
	VUF_SET_LOG_FD = 7,
	VUF_SET_VRING_NUM = 8,
	VUF_SET_VRING_ADDR = 9,
	VUF_SET_VRING_BASE = 10,
	VUF_GET_VRING_BASE = 11,
	VUF_SET_VRING_KICK = 12,
	VUF_SET_VRING_CALL = 13,
	VUF_SET_VRING_ERR = 14,
	VUF_GET_PROTOCOL_FEATURES = 15,
	VUF_SET_PROTOCOL_FEATURES = 16,
	VUF_GET_QUEUE_NUM = 17,
	VUF_SET_VRING_ENABLE = 18,
	VUF_GET_CONFIG = 24,
	VUF_RESET_DEVICE = 34,
	VUF_GET_MAX_MEM_SLOTS = 36,
};

/* Header flags. */
#define VUF_FLAG_VERSION    0x1u
#define VUF_FLAG_REPLY	    (1u << 2)
#define VUF_FLAG_NEED_REPLY (1u << 3)

/* Virtio / vhost feature bits. */
#define VUF_F_INDIRECT_DESC	28
#define VUF_F_EVENT_IDX		29
#define VUF_F_PROTOCOL_FEATURES 30
#define VUF_F_VERSION_1		32

/* Protocol feature bits. */
#define VUF_PF_MQ	    0
#define VUF_PF_REPLY_ACK    3
#define VUF_PF_CONFIG	    9
#define VUF_PF_RESET_DEVICE 13

#define VUF_MAX_FDS	 8
#define VUF_MAX_REGIONS	 8
#define VUF_MAX_QUEUES	 16
#define VUF_HDR_SIZE	 12
#define VUF_VRING_NOFD	 (1u << 8) /* SET_VRING_KICK/CALL: no fd attached */

struct vuf_region_rec {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
	uint64_t mmap_offset;
};

struct vuf_opts {
	size_t mem_size;     /* guest RAM bytes; default 64 MiB */
	uint64_t gpa_base;   /* guest-physical base; default 4 GiB */
	unsigned nregions;   /* 1 or 2 (second region after a gpa hole) */
	unsigned queue_size; /* power of two <= 32768; default 128 */
	unsigned nreq_queues; /* request queues wanted; default 1 */
	bool no_event_idx;   /* do not negotiate VIRTIO_RING_F_EVENT_IDX */
	bool indirect;	     /* build chains through indirect tables */
	int timeout_ms;	     /* vhost-user reply timeout; default 5000 */
};

/* One completion harvested from a used ring. */
struct vuf_used {
	uint32_t id;   /* head descriptor index as the backend wrote it */
	uint32_t len;  /* bytes written, as the backend claims */
	void *cookie;  /* submitter's cookie; NULL when bad */
	bool bad;      /* head out of range or not in flight */
	uint64_t lat_ns; /* publish-to-harvest latency */
};

/* Per-head bookkeeping; library-private but visible for tests. */
struct vuf_head {
	void *cookie;
	uint64_t t_pub;
	void *indirect; /* indirect table to free on completion, or NULL */
	uint16_t ndesc;
	bool inflight;
};

struct vuf_dev;

struct vuf_vq {
	struct vuf_dev *dev;
	unsigned idx;
	unsigned num;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	int kickfd;
	int callfd;
	uint16_t avail_idx;  /* shadow of avail->idx: only we write it */
	uint16_t last_used;  /* next used slot to harvest */
	uint16_t free_head;
	unsigned nfree;
	uint16_t *next;	     /* our own copy of chain links: raw writes to
				desc[].next never corrupt the free list */
	struct vuf_head *heads;
	unsigned inflight;
	bool event_idx;
	bool broken;	     /* raw misuse left the ring unusable */
	uint16_t kicked_idx; /* avail idx at the last kick decision */
	uint16_t base;	     /* GET_VRING_BASE's answer at the last pause */
	uint64_t kicks, calls, proto_errors;
};

struct vuf_dev {
	int sock;
	struct vuf_opts o;
	uint64_t features;	 /* offered by the backend */
	uint64_t acked;		 /* negotiated */
	uint64_t pfeatures;	 /* protocol features offered */
	uint64_t packed;	 /* protocol features negotiated */
	uint64_t backend_queues; /* GET_QUEUE_NUM, 0 if not asked */
	/* guest RAM */
	int memfd;
	uint8_t *mem;
	size_t mem_size;
	unsigned nregions;
	struct vuf_region_rec regions[2];
	uint8_t *pagemap; /* 1 byte per page: 0 free, 1 used */
	size_t npages, page_hint;
	unsigned nvq;
	struct vuf_vq vq[VUF_MAX_QUEUES];
	bool closed; /* socket saw EOF or an error */
	char err[256];
};

/* Fill *o with defaults. */
void vuf_opts_default(struct vuf_opts *o);

/*
 * Connect to the unix socket at path and create guest RAM; sends nothing.
 * -ENOMEM, or the connect()/memfd errno. Caller owns *ret (vuf_close).
 */
int vuf_open(const char *path, const struct vuf_opts *o, struct vuf_dev **ret);

/*
 * The QEMU start sequence: features, protocol features, queue count,
 * SET_OWNER, SET_MEM_TABLE, then per queue NUM/BASE/ADDR/KICK/CALL/ENABLE.
 * -EPIPE if the backend went away, -EPROTO on a bad reply, -ENOTSUP if
 * VERSION_1 is missing.
 */
int vuf_handshake(struct vuf_dev *d);

/* vuf_open + vuf_handshake. */
int vuf_connect(const char *path, const struct vuf_opts *o,
    struct vuf_dev **ret);

/* Stop all queues (GET_VRING_BASE), then RESET_DEVICE if negotiated. */
int vuf_stop(struct vuf_dev *d);

/*
 * A guest reboot as QEMU 7.2 does it: vuf_stop, then the start sequence
 * again on new rings (vuf_handshake). The new guest then sends INIT.
 */
int vuf_restart(struct vuf_dev *d);
/* vuf_restart's second half: new rings at base 0, the start sequence. */
int vuf_renew(struct vuf_dev *d);

/*
 * A VM pause as QEMU 7.2's vhost_dev_stop does it (virsh suspend, QMP
 * stop, a migration's stop): SET_VRING_ENABLE 0 on every queue, then
 * GET_VRING_BASE on each, whose answer vq->base keeps.
 */
int vuf_pause(struct vuf_dev *d);
/*
 * The matching cont (vhost_dev_start): SET_FEATURES, SET_MEM_TABLE, per
 * queue NUM, BASE (vq->base), ADDR, KICK, CALL, then ENABLE 1: the same
 * rings go on.
 */
int vuf_resume(struct vuf_dev *d);

/* Close the socket and unmap memory. NULL is fine. */
void vuf_close(struct vuf_dev *d);

/* --- vhost-user messages --- */

/*
 * Send one message: header {req, flags, size} + payload + fds. With
 * VUF_FLAG_NEED_REPLY or a request that has a reply, use vuf_msg_recv.
 */
int vuf_msg_send(struct vuf_dev *d, uint32_t req, uint32_t flags,
    const void *payload, uint32_t size, const int *fds, int nfds);

/* Send raw bytes (header included, anything goes) with fds. */
int vuf_raw_send(struct vuf_dev *d, const void *buf, size_t len,
    const int *fds, int nfds);

/*
 * Receive one reply with timeout: checks the REPLY flag and that req
 * matches. Returns the payload size copied (<= max), -ETIMEDOUT, -EPIPE
 * (EOF), -EPROTO.
 */
int vuf_msg_recv(struct vuf_dev *d, uint32_t req, void *payload, size_t max,
    int timeout_ms);

/* Request + u64 reply (GET_FEATURES etc.). */
int vuf_get_u64(struct vuf_dev *d, uint32_t req, uint64_t *ret);

/*
 * Send a message that has no reply of its own; if REPLY_ACK is negotiated
 * ask for an ack and return -EIO when it is non-zero.
 */
int vuf_msg_ack(struct vuf_dev *d, uint32_t req, const void *payload,
    uint32_t size, const int *fds, int nfds);

/* True while the socket has not seen EOF; polls it without blocking. */
bool vuf_alive(struct vuf_dev *d);

/* --- guest memory --- */

/* Allocate len bytes (page granular, zeroed) in guest RAM; NULL if full. */
void *vuf_alloc(struct vuf_dev *d, size_t len);
void vuf_free(struct vuf_dev *d, void *p, size_t len);
/* Host pointer -> guest-physical address (must lie in guest RAM). */
uint64_t vuf_gpa(const struct vuf_dev *d, const void *p);
/* Guest-physical -> host pointer if [gpa, gpa+len) is in one region. */
void *vuf_ptr(const struct vuf_dev *d, uint64_t gpa, size_t len);
/* First guest-physical address past the end of all regions. */
uint64_t vuf_gpa_end(const struct vuf_dev *d);

/* --- virtqueues --- */

struct vuf_buf {
	void *p;      /* inside guest RAM */
	uint32_t len;
};

/*
 * Add a chain of nout readable then nin writable buffers, as Linux
 * virtio_fs does (one chain per request), direct or through an indirect
 * table. Does not kick. -ENOSPC if descriptors are short, -EINVAL.
 */
int vuf_vq_add(struct vuf_vq *vq, const struct vuf_buf *bufs, unsigned nout,
    unsigned nin, void *cookie, bool indirect);

/* Raw chain building: take n free descriptors (chain order in ret_idx). */
int vuf_vq_get_desc(struct vuf_vq *vq, unsigned n, uint16_t *ret_idx);
/* Write one descriptor exactly as given. */
void vuf_vq_set_desc(struct vuf_vq *vq, uint16_t i, uint64_t addr,
    uint32_t len, uint16_t flags, uint16_t next);
/* Publish a chain taken with vuf_vq_get_desc; tracks it as in flight. */
int vuf_vq_publish(struct vuf_vq *vq, uint16_t head, unsigned ndesc,
    void *cookie, void *indirect);
/* Put an arbitrary value in the avail ring (no tracking). */
void vuf_vq_publish_raw(struct vuf_vq *vq, uint16_t head_value);

/* Notify the backend if the ring says it wants it (EVENT_IDX aware). */
int vuf_vq_kick(struct vuf_vq *vq);

/*
 * Harvest up to max used elements. Each is checked: head in range and in
 * flight; a bad one is returned with bad=true and counted in
 * vq->proto_errors. Returns the count.
 */
int vuf_vq_harvest(struct vuf_vq *vq, struct vuf_used *out, unsigned max);

/*
 * Wait until the used ring has something, up to timeout_ms (-1 forever).
 * 1 ready, 0 timeout, -EPIPE if the backend socket closed.
 */
int vuf_vq_wait(struct vuf_vq *vq, int timeout_ms);

/* Wait on several queues at once; same returns. */
int vuf_wait_any(struct vuf_dev *d, int timeout_ms);

uint64_t vuf_now_ns(void);

#endif
