/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the state region's own modules: layout validation, redo
 * transactions (commit, abort, roll-forward of a committed log, refusal of
 * a corrupt one), and the inode and handle tables with their generations.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../tap.h"
#include "fault.h"
#include "handle.h"
#include "inode.h"
#include "journal.h"
#include "queue_int.h"
#include "redo.h"
#include "region.h"

static struct region r;

static void
test_layout(void)
{
	struct region r2;

	ok(region_attach(&r2, r.base, r.size) == 0, "attach a fresh region");
	ok(r2.inodes == r.inodes && r2.handles == r.handles,
	    "attach finds the same sections");
	r.hdr->version++;
	ok(region_attach(&r2, r.base, r.size) == -EPROTO,
	    "attach refuses another layout version");
	r.hdr->version--;
	r.hdr->ihash_off += 8;
	ok(region_attach(&r2, r.base, r.size) == -EPROTO,
	    "attach refuses a moved section");
	r.hdr->ihash_off -= 8;
	ok(region_attach(&r2, r.base, r.size - 4096) == -EPROTO,
	    "attach refuses a wrong size");
	ok(fcntl(REGION_FD_STATE, F_GET_SEALS) & F_SEAL_SHRINK,
	    "the memfd is sealed against shrinking");
	ok((fcntl(REGION_FD_STATE, F_GETFD) & FD_CLOEXEC) == 0,
	    "the memfd survives exec");
}

static void
test_redo(void)
{
	struct region_thread_rec *t = &r.threads[0];
	uint64_t *w = &r.fuse->stopped, *w2 = &r.fuse->sessions;
	struct redo_txn tx;

	/* Record 0 as a claim leaves it (recovery scans claimed ones). */
	r.hdr->threads_used = 1;
	redo_begin(&tx, &r, t);
	ok(redo_set(&tx, w, 42) == 0, "set a word");
	ok(*w == 0, "nothing visible before commit");
	ok(redo_get(&tx, w) == 42, "the txn sees its own write");
	redo_commit(&tx);
	ok(*w == 42, "visible after commit");
	ok((t->redo_state & 3) == REDO_DONE, "log marked done");

	redo_begin(&tx, &r, t);
	redo_set(&tx, w, 7);
	redo_abort(&tx);
	ok(*w == 42, "abort changes nothing");

	redo_begin(&tx, &r, t);
	ok(redo_set(&tx, (uint8_t *)w + 4, 1) == -EINVAL,
	    "unaligned word refused");
	ok(redo_set(&tx, r.base + r.size, 1) == -EINVAL,
	    "word outside the region refused");
	redo_abort(&tx);

	/* A crash after the commit mark: recovery must apply it. */
	t->redo[0].off = region_off(&r, w);
	t->redo[0].val = 99;
	t->redo[1].off = region_off(&r, w2);
	t->redo[1].val = 100;
	t->redo_count = 2;
	redo_begin(&tx, &r, t);
	redo_set(&tx, w, 99);
	redo_set(&tx, w2, 100);
	/* Build the committed-not-applied state by hand. */
	{
		uint64_t seq = (t->redo_state >> 2) + 1;
		extern int redo_recover(struct region *);

		t->redo_count = 2;
		/* checksum: let redo_commit compute it on a twin log. */
		struct region_thread_rec *t2 = &r.threads[1];
		struct redo_txn tx2;
		uint64_t save_w = *w, save_w2 = *w2;

		redo_begin(&tx2, &r, t2);
		redo_set(&tx2, w, 99);
		redo_set(&tx2, w2, 100);
		redo_commit(&tx2);
		t->redo_csum = t2->redo_csum;
		*w = save_w;
		*w2 = save_w2;
		t->redo_state = seq << 2 | REDO_COMMITTED;
		redo_abort(&tx);
		ok(redo_recover(&r) == 1, "one committed log rolled forward");
		ok(*w == 99 && *w2 == 100, "its values applied");
		ok((t->redo_state & 3) == REDO_DONE, "and marked done");
		t->redo_state = (seq + 1) << 2 | REDO_COMMITTED;
		t->redo_csum ^= 1;
		*w = 5;
		ok(redo_recover(&r) == -EPROTO, "a corrupt log is refused");
		ok(*w == 5, "and not applied");
	}
	/* Scratch words back: a set stopped closes the session (region.h). */
	*w = 0;
	*w2 = 0;
}

static void
test_inodes(const char *dir)
{
	struct region_thread_rec *t = &r.threads[2];
	uint64_t id, id2, id3;
	struct redo_txn tx;
	struct stat st;
	mode_t mode;
	int fd, fd2, got;

	fd = open(dir, O_PATH);
	fstat(fd, &st);
	redo_begin(&tx, &r, t);
	ok(inode_ref(&tx, st.st_dev, st.st_ino, st.st_mode, fd, &id) == 0,
	    "ref a new inode");
	redo_commit(&tx);
	ok(id != INODE_ROOT_ID && (id >> 32) == 0, "nodeid: index, gen 0");
	ok(inode_get(&r, id, &got, &mode) == 0 && got == fd && S_ISDIR(mode),
	    "inode_get finds its fd and type");
	fd2 = open(dir, O_PATH);
	redo_begin(&tx, &r, t);
	ok(inode_ref(&tx, st.st_dev, st.st_ino, st.st_mode, fd2, &id2) == 0 &&
	    id2 == id, "a second lookup finds the same nodeid");
	redo_commit(&tx);
	ok(fcntl(fd2, F_GETFD) < 0, "the duplicate fd was closed at commit");
	ok(r.inodes[(id & 0xffffffff) - 1].nlookup == 2, "nlookup is 2");
	redo_begin(&tx, &r, t);
	inode_forget(&tx, id, 1);
	redo_commit(&tx);
	ok(inode_get(&r, id, &got, NULL) == 0, "alive after forget 1 of 2");
	inode_put_temps(); /* the pins of the inode_get() calls above */
	redo_begin(&tx, &r, t);
	inode_forget(&tx, id, 5);
	redo_commit(&tx);
	ok(inode_get(&r, id, &got, NULL) == -ESTALE, "stale after forget");
	ok(fcntl(fd, F_GETFD) < 0, "its fd closed after the commit");
	fd = open(dir, O_PATH);
	redo_begin(&tx, &r, t);
	ok(inode_ref(&tx, st.st_dev, st.st_ino, st.st_mode, fd, &id3) == 0,
	    "ref again");
	redo_commit(&tx);
	ok((id3 & 0xffffffff) == (id & 0xffffffff) && id3 != id,
	    "the index is reused with a new generation");
	ok(inode_get(&r, id, &got, NULL) == -ESTALE,
	    "the old nodeid stays stale");
	ok(inode_get(&r, 0, &got, NULL) == -EINVAL &&
	    inode_get(&r, 0xffffffffULL, &got, NULL) == -EINVAL,
	    "garbage nodeids refused");
	ok(inode_get(&r, INODE_ROOT_ID, &got, NULL) == 0 &&
	    got == REGION_FD_ROOT, "the root resolves");
	redo_begin(&tx, &r, t);
	inode_forget(&tx, INODE_ROOT_ID, 100);
	redo_commit(&tx);
	ok(inode_get(&r, INODE_ROOT_ID, &got, NULL) == 0,
	    "the root is never forgotten");
	/* An aborted ref closes the fd it was given. */
	fd = open("/dev", O_PATH);
	fstat(fd, &st);
	redo_begin(&tx, &r, t);
	inode_ref(&tx, st.st_dev, st.st_ino, st.st_mode, fd, &id);
	redo_abort(&tx);
	ok(fcntl(fd, F_GETFD) < 0, "abort closes a new inode's fd");
	ok(inode_get(&r, id, &got, NULL) == -ESTALE,
	    "and the inode does not exist");
}

/*
 * FORGET racing a request on the same nodeid (a hostile guest with a
 * thread pool): the request's fd must stay the inode's until the request
 * ends, never be closed under it (EBADF) nor reused by another open (the
 * wrong file). Deterministic part first, then a stress of two threads.
 */
static void
test_pins(const char *dir)
{
	struct region_thread_rec *t = &r.threads[4];
	struct redo_txn tx;
	struct stat st, st2;
	char sub[256];
	uint64_t id;
	int fd, got, other;

	/* A directory no earlier test put in the table. */
	snprintf(sub, sizeof(sub), "%s/pins", dir);
	mkdir(sub, 0700);
	dir = sub;
	fd = open(dir, O_PATH);
	fstat(fd, &st);
	redo_begin(&tx, &r, t);
	inode_ref(&tx, st.st_dev, st.st_ino, st.st_mode, fd, &id);
	redo_commit(&tx);
	ok(inode_get(&r, id, &got, NULL) == 0 && got == fd,
	    "a request gets the inode's fd");
	redo_begin(&tx, &r, t);
	inode_forget(&tx, id, 1);
	redo_commit(&tx);
	ok(inode_get(&r, id, &other, NULL) == -ESTALE,
	    "forgotten while in use: new users get ESTALE");
	ok(fcntl(got, F_GETFD) >= 0 && fstat(got, &st2) == 0 &&
	    st2.st_ino == st.st_ino, "the user's fd stays open on its inode");
	ok(inode_deferred() == 1, "one close deferred");
	other = open("/", O_PATH);
	ok(other != got, "so a new open cannot take its number");
	close(other);
	inode_put_temps();
	ok(fcntl(got, F_GETFD) < 0, "closed when the request ends");
	ok(inode_deferred() == 0, "nothing deferred any more");
	/* Two users, the entry reused between: closes wait for both. */
	fd = open(dir, O_PATH);
	redo_begin(&tx, &r, t);
	inode_ref(&tx, st.st_dev, st.st_ino, st.st_mode, fd, &id);
	redo_commit(&tx);
	inode_get(&r, id, &got, NULL);
	inode_get(&r, id, &got, NULL);
	redo_begin(&tx, &r, t);
	inode_forget(&tx, id, 1);
	redo_commit(&tx);
	ok(fcntl(fd, F_GETFD) >= 0 && inode_deferred() == 1,
	    "pinned twice: deferred");
	inode_put_temps();
	ok(fcntl(fd, F_GETFD) < 0 && inode_deferred() == 0,
	    "closed after both uses end");
}

/*
 * A 2 s race of a user thread (get the fd, use it a little later, put)
 * against a thread that adds an entry for path, publishes its id, frees
 * it and opens another file (the lowest free number: the one freed).
 */
struct race {
	const char *path;	/* what every added entry opens */
	int oflags;
	ino_t ino;		/* path's inode */
	/* resolve an id for a request (pins); 0 or -errno */
	int (*get)(uint64_t id, int *ret_fd);
	/* register fd in a committed transaction; the new id */
	uint64_t (*add)(struct redo_txn *tx, int fd, const struct stat *st);
	/* free the entry of id (its fd closes after commit) */
	void (*drop)(struct redo_txn *tx, uint64_t id);
	uint64_t id;		/* the raced entry, republished by the freer */
	int stop;
	unsigned long gets, wrong, ebadf;
};

static void *
race_user(void *p)
{
	struct race *rc = p;
	struct stat st;
	int fd;

	while (!__atomic_load_n(&rc->stop, __ATOMIC_ACQUIRE)) {
		uint64_t id = __atomic_load_n(&rc->id, __ATOMIC_ACQUIRE);

		if (id == 0 || rc->get(id, &fd) < 0) {
			inode_put_temps();
			continue;
		}
		rc->gets++;
		/* A request's use of the fd, a little later. */
		for (volatile int i = 0; i < 50; i++)
			;
		if (fstat(fd, &st) < 0)
			rc->ebadf++;
		else if (st.st_ino != rc->ino)
			rc->wrong++;
		inode_put_temps();
	}
	return NULL;
}

static void
race_run(struct race *rc, struct region_thread_rec *t, const char *what)
{
	struct redo_txn tx;
	struct stat st;
	pthread_t th;
	uint64_t id;
	time_t end;
	int fd;

	stat(rc->path, &st);
	rc->ino = st.st_ino;
	pthread_create(&th, NULL, race_user, rc);
	end = time(NULL) + 2;
	while (time(NULL) < end) {
		fd = open(rc->path, rc->oflags);
		redo_begin(&tx, &r, t);
		id = rc->add(&tx, fd, &st);
		redo_commit(&tx);
		__atomic_store_n(&rc->id, id, __ATOMIC_RELEASE);
		for (volatile int i = 0; i < 200; i++)
			;
		redo_begin(&tx, &r, t);
		rc->drop(&tx, id);
		redo_commit(&tx);
		/* Another file takes the lowest free number: the one closed. */
		fd = open("/dev/null", O_RDONLY);
		for (volatile int i = 0; i < 100; i++)
			;
		close(fd);
	}
	__atomic_store_n(&rc->stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	diag("%lu uses of a raced %s fd", rc->gets, what);
	ok(rc->gets > 0, "the user thread got the fd");
	is_int((int)rc->ebadf, 0, "no use of a closed fd (EBADF)");
	is_int((int)rc->wrong, 0, "no use of a reused fd (another file)");
}

static int
race_inode_get(uint64_t id, int *ret_fd)
{
	return inode_get(&r, id, ret_fd, NULL);
}

static uint64_t
race_inode_add(struct redo_txn *tx, int fd, const struct stat *st)
{
	uint64_t id = 0;

	inode_ref(tx, st->st_dev, st->st_ino, st->st_mode, fd, &id);
	return id;
}

static void
race_inode_drop(struct redo_txn *tx, uint64_t id)
{
	inode_forget(tx, id, 1);
}

static void
test_pin_race(const char *dir)
{
	struct race rc;
	char sub[256];

	snprintf(sub, sizeof(sub), "%s/race", dir);
	mkdir(sub, 0700);
	memset(&rc, 0, sizeof(rc));
	rc.path = sub;
	rc.oflags = O_PATH;
	rc.get = race_inode_get;
	rc.add = race_inode_add;
	rc.drop = race_inode_drop;
	race_run(&rc, &r.threads[5], "inode");
	ok(inode_deferred() == 0, "no close left waiting");
}

static void
test_handles(void)
{
	struct region_thread_rec *t = &r.threads[3];
	uint64_t fh, fh2, nodeid;
	struct redo_txn tx;
	int fd, got, flags;

	fd = open("/dev/null", O_RDWR);
	redo_begin(&tx, &r, t);
	ok(handle_add(&tx, fd, 77, O_RDWR, false, &fh) == 0, "add a handle");
	redo_commit(&tx);
	ok(handle_get(&r, fh, false, &got, &nodeid, &flags) == 0 && got == fd &&
	    nodeid == 77 && flags == O_RDWR, "handle_get returns it");
	ok(handle_get(&r, fh, true, &got, NULL, NULL) == -EBADF,
	    "a file handle is not a dir handle");
	ok(handle_get(&r, fh + (1ULL << 32), false, &got, NULL, NULL) == -EBADF,
	    "a wrong generation is refused");
	inode_put_temps(); /* the pins of the handle_get() calls above */
	redo_begin(&tx, &r, t);
	ok(handle_release(&tx, fh, false) == 0, "release");
	redo_commit(&tx);
	ok(fcntl(fd, F_GETFD) < 0, "its fd closed after commit");
	ok(handle_get(&r, fh, false, &got, NULL, NULL) == -EBADF,
	    "released handle is stale");
	redo_begin(&tx, &r, t);
	ok(handle_release(&tx, fh, false) == -EBADF, "double release refused");
	redo_abort(&tx);
	fd = open("/dev/null", O_RDWR);
	redo_begin(&tx, &r, t);
	handle_add(&tx, fd, 78, O_RDONLY, false, &fh2);
	redo_commit(&tx);
	ok((fh2 & 0xffffffff) == (fh & 0xffffffff) && fh2 != fh,
	    "slot reused with a new generation");
}

/*
 * RELEASE racing a request on the same fh (a hostile guest with a thread
 * pool): as test_pins, for handle_get() and handle_release(), and for a
 * DESTROY's handle_release_at() and lock entries.
 */
static void
test_handle_pins(const char *dir)
{
	struct region_thread_rec *t = &r.threads[6];
	uint64_t fh, nodeid, owner, lfh;
	struct redo_txn tx;
	struct stat st, st2;
	int fd, got, other;
	uint32_t pid;
	char path[300];

	snprintf(path, sizeof(path), "%s/hpins", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	fstat(fd, &st);
	redo_begin(&tx, &r, t);
	handle_add(&tx, fd, 90, O_RDWR, false, &fh);
	redo_commit(&tx);
	ok(handle_get(&r, fh, false, &got, NULL, NULL) == 0 && got == fd,
	    "a request gets the handle's fd");
	redo_begin(&tx, &r, t);
	ok(handle_release(&tx, fh, false) == 0, "released while in use");
	redo_commit(&tx);
	ok(handle_get(&r, fh, false, &other, NULL, NULL) == -EBADF,
	    "new users get EBADF");
	ok(fcntl(got, F_GETFD) >= 0 && fstat(got, &st2) == 0 &&
	    st2.st_ino == st.st_ino, "the user's fd stays open on its file");
	ok(handle_deferred() == 1, "one close deferred");
	other = open("/dev/null", O_RDONLY);
	ok(other != got, "so a new open cannot take its number");
	close(other);
	inode_put_temps();
	ok(fcntl(got, F_GETFD) < 0, "closed when the request ends");
	ok(handle_deferred() == 0, "nothing deferred any more");
	/* DESTROY frees every entry: two users of one, both waited for. */
	fd = open(path, O_RDWR);
	redo_begin(&tx, &r, t);
	handle_add(&tx, fd, 90, O_RDWR, false, &fh);
	redo_commit(&tx);
	handle_get(&r, fh, false, &got, NULL, NULL);
	handle_get(&r, fh, false, &got, NULL, NULL);
	redo_begin(&tx, &r, t);
	ok(handle_release_at(&tx, (fh & 0xffffffff) - 1) == 0, "DESTROY it");
	redo_commit(&tx);
	ok(fcntl(fd, F_GETFD) >= 0 && handle_deferred() == 1,
	    "pinned twice: deferred");
	inode_put_temps();
	ok(fcntl(fd, F_GETFD) < 0 && handle_deferred() == 0,
	    "closed after both uses end");
	/* A lock owner's OFD: pinned when its fd is asked for, not in scans. */
	fd = open(path, O_RDWR);
	redo_begin(&tx, &r, t);
	handle_add_lock(&tx, fd, 90, 7, 1234, O_RDWR, &lfh);
	redo_commit(&tx);
	ok(handle_lock_entry(&r, (lfh & 0xffffffff) - 1, NULL, &nodeid, &owner,
	    &pid, &fh) == 0 && fh == lfh && owner == 7 && pid == 1234,
	    "a scan reads a lock entry");
	ok(handle_lock_entry(&r, (lfh & 0xffffffff) - 1, &got, &nodeid, &owner,
	    &pid, &fh) == 0 && got == fd, "a lock request gets its OFD");
	redo_begin(&tx, &r, t);
	handle_release_lock(&tx, lfh);
	redo_commit(&tx);
	ok(fcntl(fd, F_GETFD) >= 0 && handle_deferred() == 1,
	    "a FLUSH freeing it in use defers its close");
	inode_put_temps();
	ok(fcntl(fd, F_GETFD) < 0 && handle_deferred() == 0,
	    "closed when the lock request ends");
	unlink(path);
}

static int
race_handle_get(uint64_t id, int *ret_fd)
{
	return handle_get(&r, id, false, ret_fd, NULL, NULL);
}

static uint64_t
race_handle_add(struct redo_txn *tx, int fd, const struct stat *st)
{
	uint64_t fh = 0;

	(void)st;
	handle_add(tx, fd, 91, O_RDONLY, false, &fh);
	return fh;
}

static void
race_handle_drop(struct redo_txn *tx, uint64_t id)
{
	handle_release(tx, id, false);
}

static void
test_handle_pin_race(const char *dir)
{
	struct race rc;
	char path[300];

	snprintf(path, sizeof(path), "%s/hrace", dir);
	close(open(path, O_RDWR | O_CREAT, 0600));
	memset(&rc, 0, sizeof(rc));
	rc.path = path;
	rc.oflags = O_RDONLY;
	rc.get = race_handle_get;
	rc.add = race_handle_add;
	rc.drop = race_handle_drop;
	race_run(&rc, &r.threads[7], "handle");
	ok(handle_deferred() == 0, "no close left waiting");
	unlink(path);
}

static void
test_poison(void)
{
	uint64_t k = fault_key_request(1, 5, 9);

	ok(fault_crashes(&r, k) == 0, "no crash counted yet");
	fault_count(&r, k);
	fault_count(&r, k);
	ok(fault_crashes(&r, k) == 2, "two crashes counted");
	fault_clear(&r, k);
	ok(fault_crashes(&r, k) == 0, "cleared");
}

/* Issue 11 part 2 defect 6: a full table, finished activities, reset. */
static void
test_poison_table(void)
{
	uint64_t ring = fault_key(REGION_ACT_RING, 3 << 16 | 77), late;
	unsigned n = 0;

	for (unsigned i = 0; i < REGION_POISON_MAX; i++) {
		fault_count(&r, fault_key(REGION_ACT_CONTROL, 1000 + i));
		fault_count(&r, fault_key(REGION_ACT_CONTROL, 1000 + i));
	}
	late = fault_key(REGION_ACT_CONTROL, 5000);
	fault_count(&r, late);
	ok(fault_crashes(&r, late) == 1,
	    "a crash is counted with the table full (%llu)",
	    (unsigned long long)fault_crashes(&r, late));
	for (unsigned i = 0; i < REGION_POISON_MAX; i++)
		n += fault_crashes(&r, fault_key(REGION_ACT_CONTROL,
		    1000 + i)) == 2;
	ok(n == REGION_POISON_MAX - 1, "one old key evicted (%u kept)", n);
	for (unsigned i = 0; i < REGION_POISON_MAX; i++)
		r.health->poison[i].key = r.health->poison[i].crashes = 0;
	/* A ring parse that crashed once, then ends well: forgotten. */
	fault_count(&r, ring);
	fault_install(&r);
	ok(fault_thread_init(&r.threads[9]) == 0, "thread record");
	fault_begin(REGION_ACT_RING, 3 << 16 | 77);
	fault_end();
	ok(fault_crashes(&r, ring) == 0,
	    "the key of an activity that ended well is cleared");
}

/*
 * The inode index is sized for the capacity but must cost memory by what
 * is used: 10,000 neighbouring inode numbers (as a file system hands them
 * out) touch a few pages of a 1M-inode region's 16 MiB index. Layout 4
 * mixed every bit of ino and touched a page per inode (about 3,700 of
 * the 4,096). Run last: it replaces the region fd.
 */
static void
test_index_footprint(void)
{
	struct region_params p = {.max_inodes = 1u << 20, .max_handles = 100};
	struct region big;
	struct redo_txn tx;
	unsigned char *vec;
	size_t len, pages, touched = 0;
	uint8_t *start;
	uint64_t id;
	bool none = true;

	if (region_create(&big, &p) < 0) {
		ok(false, "create a 1M-inode region");
		return;
	}
	inode_init_region(&big, REGION_FD_ROOT, 1, 2);
	redo_begin(&tx, &big, &big.threads[0]);
	for (uint64_t ino = 100000; ino < 110000; ino++)
		none &= inode_find(&tx, 0x803, ino, &id) == -ENOENT;
	redo_abort(&tx);
	ok(none, "10,000 unknown inodes not found");
	start = (uint8_t *)big.ihash;
	len = big.hdr->ihash_cap * sizeof(uint64_t);
	pages = len / 4096;
	vec = calloc(pages, 1);
	if (vec && mincore(start, len, vec) == 0)
		for (size_t i = 0; i < pages; i++)
			touched += vec[i] & 1;
	ok(vec != NULL && touched <= 40,
	    "their lookups touched %zu of the index's %zu pages", touched,
	    pages);
	free(vec);
	munmap(big.base, big.size);
}

/*
 * The live index (layout 6): marks name every live slot and recovery reads
 * only them; a layout-5 region attaches without one (every used head is
 * read) and region_add_live() grows it into layout 6 with the live slots
 * of that moment marked.
 */
static void
test_live(void)
{
	struct region_params p = {.max_inodes = 1000, .max_handles = 100};
	struct region old, again;
	uint16_t heads[REGION_MAX_QUEUE_SIZE];
	uint64_t words[REGION_MAX_QUEUE_SIZE], size5;
	unsigned n, marked = 0;
	bool zero = true;

	ok(r.live != NULL && r.hdr->live_off >= r.hdr->stats_off &&
	    r.hdr->live_off + REGION_LIVE_SIZE <= r.size,
	    "a new region has the live index, last");
	for (uint64_t i = 0; i < REGION_LIVE_SIZE; i++)
		zero &= r.live[i] == 0;
	ok(zero, "nothing marked in a new region");
	{
		uint64_t keep = r.hdr->threads_used;
		struct region_thread_rec *a, *b, *c;

		r.hdr->threads_used = 0;
		a = queue_thread_claim(&r);
		b = queue_thread_claim(&r);
		ok(a == &r.threads[0] && b == &r.threads[1] &&
		    region_threads_used(&r) == 2,
		    "claims raise threads_used before the record (%u)",
		    region_threads_used(&r));
		queue_thread_release(a);
		c = queue_thread_claim(&r);
		ok(c == a && region_threads_used(&r) == 2,
		    "a record claimed again leaves it (never lowered)");
		queue_thread_release(b);
		queue_thread_release(c);
		r.hdr->threads_used = 999;
		ok(region_threads_used(&r) == REGION_MAX_THREADS,
		    "a corrupt threads_used is clamped");
		r.hdr->threads_used = keep;
	}
	p.version = 4;
	ok(region_create(&old, &p) == -EINVAL, "no layout 4 is made");
	p.version = 5;
	if (region_create(&old, &p) < 0) {
		ok(false, "create a layout-5 region");
		return;
	}
	size5 = old.size;
	ok(old.live == NULL && old.hdr->live_off == 0 &&
	    old.hdr->version == 5, "a layout-5 region has no live index");
	ok(region_attach(&again, old.base, old.size) == 0 &&
	    again.live == NULL, "a layout-5 region attaches (upgrade probe)");
	/* Queue 1 used heads 0..9: 3 POPPED, 5 REPLIED, 7 EXECUTING. */
	old.dev->queue[1].heads_used = 10;
	region_slot(&old, 1, 3)->word = journal_word(JOURNAL_POPPED, 1, 40, 2);
	region_slot(&old, 1, 5)->word = journal_word(JOURNAL_REPLIED, 1, 41, 2);
	region_slot(&old, 1, 7)->word = journal_word(JOURNAL_EXECUTING, 1, 42,
	    1);
	/* Above heads_used: never written as far as the index knows. */
	region_slot(&old, 1, 12)->word = journal_word(JOURNAL_POPPED, 1, 43, 2);
	n = queue_live_words(&old, 1, 10, heads, words);
	ok(n == 10 && heads[9] == 9 && journal_state(words[3]) ==
	    JOURNAL_POPPED, "without the index every used head is read (%u)",
	    n);
	ok(region_add_live(&old, REGION_FD_STATE) == 0,
	    "layout 5 -> 6 in place");
	ok(region_threads_used(&old) == REGION_MAX_THREADS,
	    "a grown region's recovery scans every thread record");
	ok(old.hdr->version == REGION_LAYOUT_VERSION && old.live != NULL &&
	    old.size > size5 && old.hdr->size == old.size &&
	    old.hdr->live_off >= size5 - 4096,
	    "the index is appended, the header says layout %u", 6);
	for (unsigned q = 0; q < REGION_MAX_QUEUES; q++)
		for (unsigned h = 0; h < REGION_MAX_QUEUE_SIZE; h++)
			marked += region_live(&old, q)[h] != 0;
	ok(marked == 3 && region_live(&old, 1)[3] && region_live(&old, 1)[5] &&
	    region_live(&old, 1)[7], "exactly the 3 live slots are marked "
	    "(%u)", marked);
	ok(region_attach(&again, old.base, old.size) == 0 &&
	    again.live == old.live, "the grown region attaches as layout 6");
	ok(region_add_live(&old, REGION_FD_STATE) == 0 && old.live == again.live,
	    "a second add is a no-op");
	n = queue_live_words(&old, 1, 10, heads, words);
	ok(n == 3 && heads[0] == 3 && heads[1] == 5 && heads[2] == 7 &&
	    journal_state(words[1]) == JOURNAL_REPLIED &&
	    journal_pos(words[2]) == 42, "recovery reads only the marked slots");
	/* The hot path's two stores: mark before live, clear after free. */
	region_live_mark(&old, 1, 8);
	region_slot(&old, 1, 8)->word = journal_word(JOURNAL_POPPED, 1, 44, 2);
	region_slot(&old, 1, 3)->word = journal_word(JOURNAL_FREE, 1, 40, 2);
	n = queue_live_words(&old, 1, 10, heads, words);
	ok(n == 4 && heads[3] == 8 && journal_state(words[0]) == JOURNAL_FREE,
	    "a freed slot not yet cleared is read, and found FREE");
	region_live_clear(&old, 1, 3);
	n = queue_live_words(&old, 1, 10, heads, words);
	ok(n == 3 && heads[0] == 5 && heads[2] == 8,
	    "a cleared slot is not read");
	n = queue_live_words(&old, 1, 4, heads, words);
	ok(n == 0, "nothing at or above the used heads is read");
	region_live_mark(&old, 1, REGION_MAX_QUEUE_SIZE);
	region_live_mark(&old, REGION_MAX_QUEUES, 0);
	ok(region_live(&old, REGION_MAX_QUEUES) == NULL && region_live(&old,
	    2)[0] == 0, "marks out of range are ignored");
	munmap(old.base, old.size);
}

/*
 * A closed session (a DESTROY's first commit: initialized 0, destroyed 2;
 * a session end's: stopped 1) takes no new handle or inode: a request
 * that passed the session check before that commit would make one behind
 * the sweep. A fresh region (all 0) and an open session take them.
 */
static void
test_session_closed(void)
{
	struct region_thread_rec *t = &r.threads[3];
	uint64_t *words[] = { &r.fuse->destroyed, &r.fuse->stopped };
	uint64_t fh, id;
	struct redo_txn tx;
	struct stat st;
	int fd;

	fd = open("/dev/null", O_RDWR);
	fstat(fd, &st);
	ok(!region_session_closed(&r), "a fresh region is not closed");
	for (unsigned i = 0; i < 2; i++) {
		*words[i] = i == 0 ? 2 : 1;
		ok(region_session_closed(&r), "closed: %s set, initialized 0",
		    i == 0 ? "destroyed" : "stopped");
		redo_begin(&tx, &r, t);
		ok(handle_add(&tx, fd, 5, O_RDWR, false, &fh) == -EIO,
		    "closed: handle_add refused (EIO)");
		ok(inode_ref(&tx, st.st_dev, st.st_ino, st.st_mode, fd, &id) ==
		    -EIO, "closed: inode_ref refused (EIO)");
		redo_abort(&tx);
		r.fuse->initialized = 1;
		ok(!region_session_closed(&r), "an initialized session is "
		    "open (a device stop that is not a reset)");
		r.fuse->initialized = 0;
		*words[i] = 0;
	}
	ok(fcntl(fd, F_GETFD) == 0, "the refused fd stays the caller's");
	close(fd);
}

int
main(void)
{
	struct region_params p = {.max_inodes = 1000, .max_handles = 100};
	char dir[] = "/tmp/phx-test-region-XXXXXX";
	struct stat st;

	if (mkdtemp(dir) == NULL || region_create(&r, &p) < 0)
		skip_all("cannot create a region");
	stat("/", &st);
	if (dup2(open("/", O_PATH), REGION_FD_ROOT) < 0)
		skip_all("dup2");
	inode_init_region(&r, REGION_FD_ROOT, st.st_dev, st.st_ino);
	handle_init_region(&r);
	test_layout();
	test_redo();
	test_inodes(dir);
	test_pins(dir);
	test_pin_race(dir);
	test_handles();
	test_session_closed();
	test_handle_pins(dir);
	test_handle_pin_race(dir);
	test_poison();
	test_poison_table();
	test_index_footprint();
	test_live();
	{
		char sub[300];

		snprintf(sub, sizeof(sub), "%s/pins", dir);
		rmdir(sub);
		snprintf(sub, sizeof(sub), "%s/race", dir);
		rmdir(sub);
	}
	rmdir(dir);
	return done_testing();
}
