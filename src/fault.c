/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fault handler and the poison table (DESIGN 6). The handler runs on
 * the faulting thread's sigaltstack and uses only async-signal-safe
 * operations: atomic word updates in the region and tgkill. A crash is
 * counted against the thread's published activity; the signal is then
 * re-raised with its default action, so the worker dies as it would have
 * and the keeper sees the signal. Keys stay in the table until the
 * activity is answered or quarantined, or ends normally (fault_end); a
 * full table evicts the key with the fewest crashes, never drops the new
 * one.
 */
#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fault.h"
#include "journal.h"

#define ALTSTACK_SIZE (64 * 1024)

static struct region *fault_region;
/* This incarnation found keys in the table, or a clear may still find
 * some: fault_end() then clears the key of each activity that ends. */
static bool poison_any;
static __thread struct region_thread_rec *self;
static pthread_key_t altstack_key;
static pthread_once_t altstack_once = PTHREAD_ONCE_INIT;

/* Thread exit: the signal stack is switched off before it is freed. */
static void
altstack_free(void *p)
{
	stack_t ss = { .ss_flags = SS_DISABLE };

	(void)sigaltstack(&ss, NULL);
	free(p);
}

static void
altstack_key_init(void)
{
	(void)pthread_key_create(&altstack_key, altstack_free);
}

uint64_t
fault_key_request(unsigned queue, unsigned head, uint32_t gen)
{
	return (uint64_t)REGION_ACT_REQUEST << 56 | (uint64_t)(queue & 0xff)
	    << 40 | (uint64_t)(head & 0xffff) << 24 | (gen & 0xffffff);
}

uint64_t
fault_key(enum region_act act, uint64_t arg)
{
	if (act == REGION_ACT_REQUEST && fault_region != NULL) {
		unsigned q = (arg >> 16) & 0xffff, head = arg & 0xffff;
		struct journal_slot_rec *s = region_slot(fault_region, q, head);

		if (s != NULL)
			return fault_key_request(q, head,
			    journal_gen(region_load(&s->word)));
	}
	return (uint64_t)act << 56 | (arg & 0x00ffffffffffffffULL);
}

/* Async-signal-safe: CAS on the key, atomic add on the count. */
static void
count(struct region *r, uint64_t key)
{
	struct region_poison_rec *p = r->health->poison;

	if (key == 0)
		return;
	for (unsigned i = 0; i < REGION_POISON_MAX; i++) {
		uint64_t k = __atomic_load_n(&p[i].key, __ATOMIC_ACQUIRE);

		if (k == 0) {
			uint64_t zero = 0;

			if (!__atomic_compare_exchange_n(&p[i].key, &zero, key,
			    false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
			    zero != key)
				continue;
			k = key;
		}
		if (k == key) {
			__atomic_add_fetch(&p[i].crashes, 1, __ATOMIC_RELEASE);
			return;
		}
	}
	/*
	 * Full: the key with the fewest crashes goes (the least evidence);
	 * the new one starts at 1. Losing count of a real poison costs a
	 * few more crashes; not counting at all would loop for ever.
	 */
	for (unsigned i = 0, min = 0; ; i++) {
		if (i == REGION_POISON_MAX) {
			uint64_t old = __atomic_load_n(&p[min].key,
			    __ATOMIC_ACQUIRE);

			if (!__atomic_compare_exchange_n(&p[min].key, &old, key,
			    false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return; /* raced with another crash: rare */
			__atomic_store_n(&p[min].crashes, 1, __ATOMIC_RELEASE);
			return;
		}
		if (__atomic_load_n(&p[i].crashes, __ATOMIC_ACQUIRE) <
		    __atomic_load_n(&p[min].crashes, __ATOMIC_ACQUIRE))
			min = i;
	}
}

void
fault_count(struct region *r, uint64_t key)
{
	count(r, key);
}

uint64_t
fault_crashes(const struct region *r, uint64_t key)
{
	for (unsigned i = 0; i < REGION_POISON_MAX; i++)
		if (region_load(&r->health->poison[i].key) == key)
			return region_load(&r->health->poison[i].crashes);
	return 0;
}

void
fault_clear(struct region *r, uint64_t key)
{
	bool any = false;

	for (unsigned i = 0; i < REGION_POISON_MAX; i++) {
		uint64_t k = region_load(&r->health->poison[i].key);

		if (k == key && key != 0) {
			region_store(&r->health->poison[i].crashes, 0);
			region_store(&r->health->poison[i].key, 0);
		} else if (k != 0) {
			any = true;
		}
	}
	if (r == fault_region)
		__atomic_store_n(&poison_any, any, __ATOMIC_RELAXED);
}

void
fault_count_all_active(struct region *r)
{
	if (fault_region == NULL)
		fault_region = r; /* the keeper: keys need the slot gens */
	for (unsigned i = 0; i < REGION_MAX_THREADS; i++) {
		struct region_thread_rec *t = &r->threads[i];
		uint64_t act = region_load(&t->act);

		if (region_load(&t->in_use) && act != REGION_ACT_IDLE &&
		    act != REGION_ACT_HOUSEKEEPING)
			count(r, fault_key((enum region_act)act, t->act_arg));
	}
}

static void
on_fault(int sig, siginfo_t *si, void *uc)
{
	struct region *r = fault_region;
	/*
	 * A fault of ours: raised by the kernel for an instruction (si_code
	 * > 0) or by this process itself (abort, a crash point). A signal
	 * another process sent (kill -SEGV) says nothing about what this
	 * thread was doing: it counts against nothing, like an external
	 * SIGKILL (DESIGN 6).
	 */
	bool ours = si->si_code > 0 || si->si_pid == getpid();

	if (r != NULL && ours) {
		__atomic_add_fetch(&r->health->faults, 1, __ATOMIC_RELAXED);
		if (self != NULL) {
			uint64_t act = region_load(&self->act);

			if (act != REGION_ACT_IDLE)
				count(r, fault_key((enum region_act)act,
				    self->act_arg));
		}
	}
	if (sig == SIGSYS && ours) {
		char buf[64] = "phoenixfsd: worker: forbidden syscall ";
		size_t n = strlen(buf);
		char d[12];
		int i = 0, nr = si->si_syscall < 0 ? 0 : si->si_syscall;

		do
			d[i++] = (char)('0' + nr % 10);
		while ((nr /= 10) > 0 && i < (int)sizeof(d));
		while (i > 0)
			buf[n++] = d[--i];
		buf[n++] = '\n';
		(void)!write(STDERR_FILENO, buf, n);
	}
	/* SA_RESETHAND restored the default: die of the same signal. */
	signal(sig, SIG_DFL);
	syscall(SYS_tgkill, getpid(), gettid(), sig);
}

void
fault_install(struct region *r)
{
	static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT,
		SIGSYS};
	struct sigaction sa;

	fault_region = r;
	for (unsigned i = 0; i < REGION_POISON_MAX; i++)
		if (region_load(&r->health->poison[i].key) != 0)
			poison_any = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;

		/* --seccomp=trap keeps its own SIGSYS handler (filter.c). */
		if (sigs[i] == SIGSYS && sigaction(SIGSYS, NULL, &old) == 0 &&
		    (old.sa_flags & SA_SIGINFO) && old.sa_sigaction != NULL)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

int
fault_thread_init(struct region_thread_rec *t)
{
	stack_t ss;

	/*
	 * One stack per thread, freed when the thread exits (the key's
	 * destructor): queue threads come and go with every ring restart.
	 */
	pthread_once(&altstack_once, altstack_key_init);
	ss.ss_sp = pthread_getspecific(altstack_key);
	if (ss.ss_sp == NULL) {
		ss.ss_sp = malloc(ALTSTACK_SIZE);
		if (ss.ss_sp == NULL)
			return -ENOMEM;
		(void)pthread_setspecific(altstack_key, ss.ss_sp);
	}
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) < 0)
		return -errno;
	self = t;
	return 0;
}

void
fault_begin(enum region_act act, uint64_t arg)
{
	if (self == NULL)
		return;
	self->act_arg = arg;
	self->act_start_ns = clock_now_ns();
	/* Orders arg and start before act for the handler and the keeper. */
	region_store(&self->act, act);
}

void
fault_host_begin(void)
{
	if (self != NULL)
		region_store(&self->act_start_ns, UINT64_MAX);
}

void
fault_host_end(void)
{
	if (self != NULL)
		region_store(&self->act_start_ns, clock_now_ns());
}

void
fault_end(void)
{
	uint64_t act;

	if (self == NULL)
		return;
	act = region_load(&self->act);
	/* The activity ended well: its crashes were not its own. */
	if (__atomic_load_n(&poison_any, __ATOMIC_RELAXED) &&
	    act != REGION_ACT_IDLE && fault_region != NULL)
		fault_clear(fault_region, fault_key((enum region_act)act,
		    self->act_arg));
	region_store(&self->act, REGION_ACT_IDLE);
}
