/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state region: one memfd, created and mapped by the keeper before the
 * first worker, inherited by every worker at the same address (clone without
 * CLONE_VM copies the mapping), never remapped. Everything the guest can
 * observe and everything a new worker needs to resume lives here, as
 * fixed-width records at offsets (never pointers). The byte layout is
 * documented, with its changelog, in docs/state-format.md.
 *
 * Sections, in file order: header, device (vhost-user state), fuse session,
 * threads (activity + redo log per worker thread), journal (one slot per
 * descriptor head per queue), inode table + index, handle table, fd list.
 *
 * After a crash every byte here is untrusted input to recovery: offsets,
 * indices and counts are bounds-checked before use.
 */
#ifndef PHX_REGION_H
#define PHX_REGION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "compiler.h"

#define REGION_MAGIC	       0x5845494e454f4850ULL /* "PHOENIEX" LE */
#define REGION_LAYOUT_VERSION  6
#define REGION_LAYOUT_OLDEST   5	/* attached for a live upgrade (region_add_live) */
#define REGION_MAX_QUEUES      9	/* hiprio + 8 request queues */
#define REGION_MAX_QUEUE_SIZE  1024
#define REGION_MAX_MEM	       32	/* memory slots (GET_MAX_MEM_SLOTS) */
#define REGION_MAX_THREADS     64	/* worker threads with a redo log */
#define REGION_REDO_MAX	       512	/* (offset, value) pairs per txn */
#define REGION_SLOT_SIZE       8192
#define REGION_SLOT_REQ_MAX    (REGION_SLOT_SIZE - 128)
#define REGION_CTRL_MAX	       4096	/* largest vhost-user payload kept */
#define REGION_MAX_FDS	       8	/* fds one vhost-user message brings */

/* Fixed fd numbers of the fds whose loss cannot be repaired (DESIGN 1). */
#define REGION_FD_BASE	 900
#define REGION_FD_STATE	 (REGION_FD_BASE + 0) /* the region memfd */
#define REGION_FD_LISTEN (REGION_FD_BASE + 1) /* listening socket */
#define REGION_FD_CONN	 (REGION_FD_BASE + 2) /* the vhost-user connection */
#define REGION_FD_ROOT	 (REGION_FD_BASE + 3) /* O_PATH of the shared dir */
#define REGION_FD_PROC	 (REGION_FD_BASE + 4) /* keeper's /proc root */
#define REGION_FD_BINARY (REGION_FD_BASE + 5) /* the running keeper's binary */
#define REGION_FD_UPGRADE (REGION_FD_BASE + 6) /* launcher socket: new binaries */
#define REGION_FD_NEXT	 (REGION_FD_BASE + 7) /* end of the reserved range */
#define REGION_FD_RESERVED(fd) ((fd) >= REGION_FD_BASE && (fd) < REGION_FD_NEXT)

/* ---- header --------------------------------------------------------- */

struct region_hdr_rec {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;	/* sizeof(struct region_hdr_rec) */
	uint64_t size;		/* bytes of the memfd */
	uint64_t config_digest; /* config_digest() of the creator */
	/* keeper-written before each clone; worker reads. */
	uint64_t incarnation;
	/* Sections: offset and element count, set at creation, read-only. */
	uint64_t dev_off;
	uint64_t fuse_off;
	uint64_t threads_off;
	uint64_t journal_off;
	uint64_t inode_off, inode_cap;
	uint64_t ihash_off, ihash_cap; /* power of two */
	uint64_t handle_off, handle_cap;
	uint64_t fdlist_off, fdlist_cap;
	/* keeper-written: pids, failure accounting (DESIGN 6). */
	uint64_t keeper_pid;
	uint64_t worker_pid;
	uint64_t failed_recoveries; /* in a row; keeper: 0 after a healthy window */
	uint64_t degraded;	    /* 1: every request answers EIO */
	uint64_t kills;		    /* workers that died, total */
	uint64_t last_death_ns;	    /* CLOCK_MONOTONIC of the last death */
	uint64_t last_recovery_ns;  /* last recovery duration */
	uint64_t conn_state;	    /* REGION_CONN_* */
	/*
	 * The worker main thread's tid: set by the kernel at clone
	 * (CLONE_CHILD_SETTID), cleared and futex-woken by the kernel when
	 * that thread releases its mm (CLONE_CHILD_CLEARTID), which is how
	 * the keeper learns of a death before the teardown (DESIGN 1).
	 */
	uint32_t worker_ctid;
	uint32_t recovered;	    /* worker: 1 once recovery finished */
	uint64_t deaths_fault;	    /* deaths by a fault signal */
	uint64_t deaths_kill;	    /* deaths by SIGKILL (external or OOM) */
	uint64_t deaths_exit;	    /* non-zero exits (fatalx) */
	uint64_t last_respawn_ns;   /* death seen -> new worker cloned */
	uint64_t crash_fired;	    /* crashpoint.c: PHX_CRASH 1, FAIL 2, RECUR count << 8 */
	uint64_t health_off;	    /* section: struct region_health_rec */
	/* Version 2: */
	uint64_t ifh_off;	    /* section: inode_fh_rec[inode_cap] */
	/* Version 3 (ops: status counters): */
	uint64_t stats_off;	    /* section: struct region_stats_rec */
	/* Version 6 (0 in a layout-5 region): */
	uint64_t live_off;	    /* section: the live index, region_live() */
	/*
	 * 1 + the highest thread record ever claimed (never lowered), raised
	 * before a record is claimed: records at and above it were never
	 * written since the keeper made them, so recovery's scans of the
	 * thread records (redo logs, dead io_uring rings, activity) stop
	 * there (a first touch of each record's page costs about 8 us in a
	 * new worker, 64 of them 0.6 ms of the stall, measured). Untrusted:
	 * clamped to REGION_MAX_THREADS. A layout-5 region gets the maximum.
	 */
	uint64_t threads_used;
	/*
	 * The keeper's fd sequence (fdtab_keeper_begin/end): odd while it
	 * makes an fd not yet on its list, or closes one still on it. A
	 * worker's fd snapshot that saw it odd or moved is taken again.
	 * 0 for good under a keeper older than it (the snapshot as before).
	 */
	uint64_t keeper_fd_seq;
	uint64_t pad2[27];
};
ASSERT_SIZE(struct region_hdr_rec, 512);

enum region_conn {
	REGION_CONN_NONE,	/* not yet accepted */
	REGION_CONN_UP,		/* REGION_FD_CONN is the live connection */
	REGION_CONN_CLOSED,	/* the peer closed: the daemon exits */
};

/* ---- vhost-user device state (written by the control thread) -------- */

/* One guest memory region; fd is a number in the shared fd table. */
struct region_mem_rec {
	uint64_t gpa;		/* guest physical address */
	uint64_t size;
	uint64_t uaddr;		/* QEMU's user address (vring addresses) */
	uint64_t mmap_offset;
	int64_t fd;		/* -1: slot unused */
};
ASSERT_SIZE(struct region_mem_rec, 40);

/* Used-ring publish record of a queue (DESIGN 3 step 5). */
struct region_publish_rec {
	uint64_t active;	/* 1 while a push is between used write and idx */
	uint64_t first;		/* used index of the first element */
	uint64_t count;
	uint64_t elem[REGION_MAX_QUEUE_SIZE]; /* head | len << 32 */
};

struct region_queue_rec {
	uint64_t desc_uaddr, avail_uaddr, used_uaddr; /* QEMU user addresses */
	uint64_t num;		/* ring size, 0 = not set */
	uint64_t base;		/* SET_VRING_BASE value */
	uint64_t started;	/* kick fd received and addresses valid */
	uint64_t enabled;	/* SET_VRING_ENABLE */
	uint64_t epoch;		/* bumped at each (re)start of the ring */
	int64_t kick_fd, call_fd, err_fd; /* -1 = none */
	/* worker-written by the queue thread; recovery recomputes from slots */
	uint64_t last_avail_idx;
	/* written under the queue's push lock; used->idx we last stored */
	uint64_t used_idx;
	uint64_t broken;	/* guest protocol violation: queue stopped */
	/*
	 * 0x10000 | the base GET_VRING_BASE answered, while the ring it
	 * stopped may go on (a VM pause); 0 otherwise (never stopped so, a
	 * reset, or started since). In a spare word: a region of an older
	 * binary reads 0, "starts as a new ring", as it did.
	 */
	uint64_t stop_base;
	/*
	 * Layout 5: 1 + the highest head ever popped on this queue (any
	 * epoch, never lowered), stored before that head's slot is first
	 * written. Slots at or above it were never written: scans of the
	 * journal stop there, so the slots (8 KiB each, sparse) of heads a
	 * guest never used cost no memory. Untrusted: clamped to num.
	 */
	uint64_t heads_used;
	uint64_t pad[1];
	struct region_publish_rec publish;
};

struct region_dev_rec {
	uint64_t features;	   /* acked virtio features */
	uint64_t protocol_features; /* acked protocol features */
	uint64_t owner;		   /* SET_OWNER seen */
	uint64_t nmem;		   /* slots in use */
	struct region_mem_rec mem[REGION_MAX_MEM];
	/* The control message being handled (DESIGN 7). */
	uint64_t ctrl_state;	/* REGION_CTRL_* */
	uint64_t ctrl_seq;	/* messages handled */
	uint8_t ctrl_hdr[16];
	int64_t ctrl_fds[REGION_MAX_FDS];
	uint64_t ctrl_nfds;
	/*
	 * recvmsg() control buffer (SCM_RIGHTS) of the message being
	 * received, zeroed before the receive: the kernel records the fd
	 * numbers here even if the worker dies right after (vu.c).
	 */
	uint64_t ctrl_cmsg[8];
	uint8_t ctrl_payload[REGION_CTRL_MAX];
	uint8_t ctrl_reply[REGION_CTRL_MAX + 16];
	uint64_t ctrl_reply_len;
	struct region_queue_rec queue[REGION_MAX_QUEUES];
};

enum region_ctrl {
	REGION_CTRL_IDLE,	/* waiting for a header */
	REGION_CTRL_RECEIVED,	/* message and its fds are in ctrl_* */
	REGION_CTRL_HANDLED,	/* effects committed; reply in ctrl_reply */
	REGION_CTRL_SENT,	/* reply left */
};

/* ---- FUSE session (INIT result) ------------------------------------- */

struct region_fuse_rec {
	uint64_t initialized;	/* INIT answered */
	uint64_t proto_minor;
	uint64_t flags;		/* negotiated FUSE_* init flags (64-bit) */
	uint64_t max_write;
	uint64_t max_readahead;
	uint64_t destroyed;	/* DESTROY answered; 2: its sweep under way */
	/* ---- version 3: session end at a device reset (DESIGN 7) ---- */
	/*
	 * 1 once QEMU stopped the device (GET_VRING_BASE, RESET_OWNER,
	 * RESET_DEVICE) after the last INIT: the next INIT is a new guest
	 * boot and ends the old session (fdispatch.c). Set by the control
	 * message's transaction, cleared by the INIT that ends the session.
	 */
	uint64_t stopped;
	uint64_t sessions;	/* sessions ended by a device reset, total */
};

/* ---- per worker thread: activity and redo log ----------------------- */

enum region_act {
	REGION_ACT_IDLE,
	REGION_ACT_REQUEST,	/* arg = queue << 16 | head */
	REGION_ACT_RING,	/* arg = queue << 16 | avail position */
	REGION_ACT_CONTROL,	/* arg = ctrl_seq */
	REGION_ACT_PUSH,	/* arg = queue */
	REGION_ACT_HOUSEKEEPING,
};

struct region_redo_ent {
	uint64_t off;		/* byte offset in the region, 8-aligned */
	uint64_t val;
};

struct region_thread_rec {
	/* activity: written by the thread itself, read by fault/keeper */
	uint64_t act;		/* enum region_act */
	uint64_t act_arg;
	uint64_t act_start_ns;	/* CLOCK_MONOTONIC */
	uint64_t in_use;	/* slot claimed by a live thread of this inc */
	uint64_t tid;
	/*
	 * The thread's io_uring (intent.c), kept open in the shared fd table
	 * after the thread dies: its completion ring is the kernel's record
	 * of what a non-idempotent operation did. Offsets from the setup
	 * params, to map the CQ ring in a later incarnation. -1 = none.
	 */
	int64_t ring_fd;
	uint64_t ring_cq_head, ring_cq_tail, ring_cq_mask, ring_cqes;
	uint64_t ring_cq_entries;
	uint64_t pad[2];
	/* redo log: state = seq << 2 | REDO_* (see redo.h) */
	uint64_t redo_state;
	uint64_t redo_count;
	uint64_t redo_csum;
	uint64_t redo_pad;
	struct region_redo_ent redo[REGION_REDO_MAX];
};

/* ---- health: poison accounting (DESIGN 6) ------------------------- */

#define REGION_POISON_MAX 64

/*
 * A crash counted against an activity. key identifies it across
 * incarnations: for a request, REGION_ACT_REQUEST << 56 | queue << 40 |
 * head << 24 | slot generation; for a ring position or a control message,
 * the kind << 56 | its argument. Written by the fault handler of the dying
 * thread (single word stores) and by the keeper between workers.
 */
struct region_poison_rec {
	uint64_t key;		/* 0 = free */
	uint64_t crashes;
};

struct region_health_rec {
	struct region_poison_rec poison[REGION_POISON_MAX];
	uint64_t quarantined;	/* activities quarantined, total */
	uint64_t faults;	/* fault signals caught, total */
	uint64_t watchdog_kills;
	uint64_t upgrades;	/* live upgrades done (keeper re-exec) */
	uint64_t upgrades_refused; /* new binaries that refused the layout */
	uint64_t pad[3];
};

/* ==== ops: status counters (layout 4; stats.c writes, status.c reads) ====
 *
 * What `phoenixfsd --status` prints. Written by the keeper (deaths and
 * their cause) and by the worker (recoveries, replays, quarantines,
 * per-thread request histograms); read, without any lock, by a process
 * outside the daemon that maps the memfd read-only: every field is one
 * aligned 64-bit word, so a reader sees each whole, and a figure torn
 * across two words is at worst off by the request in flight. After a
 * crash the counters mean what they say: nothing here drives recovery.
 */
#define STATS_OPCODES	64	/* FUSE opcodes 1..62; 63 = any other */
#define STATS_OP_OTHER	63
#define STATS_BUCKETS	40	/* bucket b: [2^b, 2^(b+1)) ns, b = 0: < 2 ns */
#define STATS_QUAR_MAX	16	/* the last quarantined requests kept */

enum stats_cause {
	STATS_CAUSE_NONE,
	STATS_CAUSE_SIGNAL,	/* a fault signal of its own (or a fatal error) */
	STATS_CAUSE_WATCHDOG,	/* killed by the keeper's watchdog */
	STATS_CAUSE_OOM,	/* killed by the OOM killer */
	STATS_CAUSE_KILL,	/* an external SIGKILL (or signal) */
	STATS_CAUSE_EXIT,	/* a non-zero exit */
	STATS_CAUSE_UPGRADE,	/* stopped by the keeper for a live upgrade */
	STATS_CAUSE_MAX,
};

/* One quarantined request (DESIGN 6), as decoded from its journal copy. */
struct stats_quar_rec {
	uint64_t when_ns;	/* CLOCK_MONOTONIC */
	uint64_t opcode;
	uint64_t nodeid;
	uint64_t where;		/* queue << 16 | head */
};

/* Per worker thread record i (threads[i]): only its thread writes it. */
struct stats_thread_rec {
	uint64_t hist[STATS_OPCODES][STATS_BUCKETS]; /* latency, log2 ns */
};

struct region_stats_rec {
	uint64_t start_ns;	/* CLOCK_MONOTONIC when the region was made */
	uint64_t start_real_s;	/* CLOCK_REALTIME seconds, same moment */
	uint64_t crashes[STATS_CAUSE_MAX]; /* worker deaths by cause */
	/* keeper-only: health counters at the last spawn (cause of death) */
	uint64_t seen_faults, seen_watchdog;
	uint64_t down_ns;	/* CLOCK_MONOTONIC: last worker stopped serving */
	uint64_t down_cause;	/* enum stats_cause of that stop */
	uint64_t down_signal;	/* its signal when known, else 0 */
	uint64_t recoveries;	/* workers that recovered after a stop */
	uint64_t last_stall_ns; /* down_ns -> serving again, last recovery */
	uint64_t stall_hist[STATS_BUCKETS]; /* every recovery's stall */
	uint64_t replayed;	/* requests re-run by recoveries, total */
	uint64_t quar_total;	/* quarantine records written (ring index) */
	struct stats_quar_rec quar[STATS_QUAR_MAX];
	/* log rate limit shared by keeper and workers (stats_log_ok) */
	uint64_t log_window_ns, log_in_window, log_suppressed;
	/* the running recovery's replays and quarantines (for its log line) */
	uint64_t rec_replayed, rec_quarantined;
	uint64_t unserved;	/* deaths since a worker last recovered */
	uint64_t pad[32];
	struct stats_thread_rec thread[REGION_MAX_THREADS];
};
ASSERT_SIZE(struct region_stats_rec,
    1280 + REGION_MAX_THREADS * sizeof(struct stats_thread_rec));
/* ==== end ops: status counters ==== */

/* ---- request journal ------------------------------------------------ */

/*
 * One slot per descriptor head per queue. word packs state (8 bits),
 * generation (24), avail position (16) and ring epoch (16); it is written
 * with a release store (or through a redo transaction), and read with an
 * acquire load. req is a copy of the request taken at pop: replay and
 * resolution decode this copy, never guest memory.
 */
struct journal_slot_rec {
	uint64_t word;
	uint64_t reply_len;	/* valid if state >= REPLIED */
	uint64_t req_len;	/* bytes of req that are valid */
	uint64_t in_total;	/* readable bytes of the chain */
	uint64_t out_total;	/* writable bytes of the chain */
	uint64_t step;		/* multi-syscall requests: steps done */
	uint64_t intent[8];	/* exactly-once record (intent.h) */
	uint64_t pad[2];
	uint8_t req[REGION_SLOT_REQ_MAX];
};
ASSERT_SIZE(struct journal_slot_rec, REGION_SLOT_SIZE);

/*
 * ---- live index (layout 6) --------------------------------------------
 *
 * One byte per (queue, head), REGION_MAX_QUEUE_SIZE per queue: a
 * conservative superset of the live journal slots, so that recovery
 * reads one 1 KiB run per queue and then only the slots it names, not
 * the state word of every slot ever used. Non-zero = maybe live. Set
 * (by the popping queue thread) before the slot's word leaves FREE, the
 * word's release store ordering it; cleared (release store, under the
 * queue's push lock, or by single-threaded recovery) only after the word
 * is FREE, and before used->idx lets the guest re-post the head. So a
 * kill at any instant leaves every live slot marked; a marked FREE slot
 * costs recovery one read. A guest that re-posts a head it has not yet
 * seen completed (a protocol violation) may have it popped between the
 * free and the clear: a kill then finds that slot unmarked, so its
 * request is never answered, and its head popped again finds a live
 * slot: the queue is marked broken, as for any head re-posted in flight.
 */
#define REGION_LIVE_SIZE ((uint64_t)REGION_MAX_QUEUES * REGION_MAX_QUEUE_SIZE)

/* ---- inode table ---------------------------------------------------- */

/*
 * nodeid = gen << 32 | (index + 1); index 0 is the root (nodeid 1, gen 0).
 * All fields are 64-bit so that each is one redo entry.
 */
struct inode_rec {
	uint64_t dev;
	uint64_t ino;
	uint64_t nlookup;
	uint64_t gen;		/* bumped when the index is reused */
	int64_t fd;		/* O_PATH fd, -1 if the inode lives as a handle */
	uint64_t used;		/* 1 = live; else next free index + 1 */
	uint64_t hnext;		/* hash chain: next index + 1, 0 = end */
	uint64_t mode;		/* S_IFMT of the inode */
};
ASSERT_SIZE(struct inode_rec, 64);

/*
 * The file handle of an inode that lives without an fd
 * (--inode-file-handles): hdr = handle_type << 32 | handle_bytes, 0 = none.
 * Valid only while the inode_rec is used and its fd is -1.
 */
#define INODE_FH_MAX 56
struct inode_fh_rec {
	uint64_t hdr;
	uint8_t f_handle[INODE_FH_MAX];
};
ASSERT_SIZE(struct inode_fh_rec, 64);

/* Hash buckets: index + 1 of the first inode in the chain, 0 = empty. */
struct inode_hdr_rec {
	uint64_t free_head;	/* index + 1 of the first free, 0 = none */
	uint64_t high;		/* indices < high were ever used */
	uint64_t live;		/* live inodes */
	uint64_t fds;		/* live inodes that hold an fd */
	uint64_t pad[4];
};

/* ---- handle table ---------------------------------------------------- */

/* fh = gen << 32 | (index + 1). */
struct handle_rec {
	int64_t fd;		/* open fd in the shared table */
	uint64_t nodeid;
	uint64_t gen;
	uint64_t used;		/* 1 = live; else next free index + 1 */
	uint64_t flags;		/* open flags (O_ACCMODE, O_DIRECT...) */
	uint64_t dir;		/* 1 = opendir handle, 2 = lock owner's OFD */
	/*
	 * POSIX lock owners (pt_lock.c, DESIGN 5): a dir == 2 entry is the
	 * OFD that holds one guest lock owner's record locks on nodeid,
	 * committed before its first lock call; flags then holds the
	 * owner's guest pid << 32 | open flags. A new incarnation finds
	 * them by scanning the table.
	 */
	uint64_t lock_owner;	/* fuse lock_owner (dir == 2), else 0 */
	uint64_t pad;
};
ASSERT_SIZE(struct handle_rec, 64);

struct handle_hdr_rec {
	uint64_t free_head;
	uint64_t high;
	uint64_t live;
	uint64_t pad[5];
};

/* ---- the mapped region, as seen by one process ----------------------- */

struct region {
	uint8_t *base;		/* mapping address, same in keeper and workers */
	uint64_t size;
	struct region_hdr_rec *hdr;
	struct region_dev_rec *dev;
	struct region_fuse_rec *fuse;
	struct region_health_rec *health;
	struct region_stats_rec *stats; /* ops: status counters */
	struct region_thread_rec *threads;
	struct journal_slot_rec *journal;
	struct inode_hdr_rec *ihdr;
	struct inode_rec *inodes;
	struct inode_fh_rec *ifh;
	uint64_t *ihash;
	struct handle_hdr_rec *hhdr;
	struct handle_rec *handles;
	int64_t *fdlist;	/* fds the keeper owns; -1 = free */
	uint8_t *live;		/* live index; NULL in a layout-5 region */
};

/* Sizes chosen at creation. */
struct region_params {
	uint64_t max_inodes;
	uint64_t max_handles;
	uint64_t config_digest;
	uint32_t version;	/* 0: REGION_LAYOUT_VERSION; tests make older */
};

/*
 * Creates the memfd (sealed against shrinking), sizes it, maps it and
 * initializes every section. The memfd lands at REGION_FD_STATE with
 * FD_CLOEXEC clear. -errno on failure. Keeper only.
 */
int region_create(struct region *r, const struct region_params *p);
/*
 * Validates an existing region mapped at r->base (header, version, section
 * bounds) and fills r's pointers. -EINVAL / -EPROTO on a bad layout. A
 * layout-5 region (REGION_LAYOUT_OLDEST) is accepted with r->live NULL:
 * the layout probe of a live upgrade, status readers, and the keeper
 * that then calls region_add_live() before any worker.
 */
int region_attach(struct region *r, uint8_t *base, uint64_t size);
/*
 * Live upgrade from a layout-5 binary (r attached from a layout-5 region,
 * no worker running, the memfd at fd): grows the memfd by the live index,
 * maps it anew, marks in the index every slot of a used head whose word
 * is not FREE (one full read of those words, once) and sets the header
 * to layout 6 last. -errno (the region untouched) if the mapping or the
 * growth fails. Keeper only, after exec, before its first worker.
 */
int region_add_live(struct region *r, int fd);
/* How many thread records recovery scans (hdr->threads_used, clamped). */
static inline unsigned
region_threads_used(const struct region *r)
{
	uint64_t u = __atomic_load_n(&r->hdr->threads_used, __ATOMIC_ACQUIRE);

	return u < REGION_MAX_THREADS ? (unsigned)u : REGION_MAX_THREADS;
}
/* The live index of queue (REGION_MAX_QUEUE_SIZE bytes), NULL if none. */
static inline uint8_t *
region_live(const struct region *r, unsigned queue)
{
	if (r->live == NULL || queue >= REGION_MAX_QUEUES)
		return NULL;
	return r->live + (size_t)queue * REGION_MAX_QUEUE_SIZE;
}
/* The live index byte of (queue, head), NULL if none or out of range. */
static inline uint8_t *
region_live_byte(const struct region *r, unsigned queue, unsigned head)
{
	uint8_t *q = region_live(r, queue);

	return q != NULL && head < REGION_MAX_QUEUE_SIZE ? q + head : NULL;
}
/*
 * Marks (queue, head) maybe live, before its slot's word leaves FREE (that
 * word's release store orders the mark before it). No-op without index.
 */
static inline void
region_live_mark(const struct region *r, unsigned queue, unsigned head)
{
	uint8_t *b = region_live_byte(r, queue, head);

	if (b != NULL)
		__atomic_store_n(b, 1, __ATOMIC_RELAXED);
}
/*
 * Clears the mark once the slot's word is FREE (release: that store is
 * visible first), before used->idx lets the guest re-post the head.
 */
static inline void
region_live_clear(const struct region *r, unsigned queue, unsigned head)
{
	uint8_t *b = region_live_byte(r, queue, head);

	if (b != NULL)
		__atomic_store_n(b, 0, __ATOMIC_RELEASE);
}
/* Byte offset of p inside the region (p must point into it). */
uint64_t region_off(const struct region *r, const void *p);
/* The journal slot of (queue, head). */
struct journal_slot_rec *region_slot(const struct region *r, unsigned queue,
    unsigned head);
/*
 * The state word of slot (queue, head) (both in range), read through the
 * region's memfd at fd with pread, which touches no page of our mapping
 * (a first touch costs a page-table fill in a new worker); through the
 * mapping if fd < 0 or the read fails.
 */
uint64_t region_slot_word(const struct region *r, int fd, unsigned queue,
    unsigned head);
/*
 * The FUSE session is closed to new entries: a DESTROY (destroyed 2, then
 * 1) or a session end (stopped) has committed initialized = 0. A request
 * that passed fdispatch.c's session check before that commit must not add
 * a handle or an inode after it: the sweep may have passed its index (it
 * would outlive the session). Read under the table's lock, which the
 * sweep takes after that commit. A region never initialized (all 0: before
 * the first INIT, unit tests) is not closed.
 */
bool region_session_closed(const struct region *r);

/* Atomic 64-bit helpers for region words (release store, acquire load). */
static inline void
region_store(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t
region_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

#endif
