/* A small thread pool for kernels of a few tens of microseconds (the sparse products of a Dense
   layer on MNIST: ~50 µs), where starting an OpenMP team whose threads sleep costs as much as the
   work itself (≈ 0.1 ms on the development VM) and spinning OpenMP threads would fight OpenBLAS's
   for the cores in the big GEMMs.

   le4nn_pool_run(threads, items, fn, ctx, spin_ns) calls fn(ctx, item, slot) once for every item in
   [0, items), on the calling thread (slot 0) and on up to threads - 1 helper threads (slots 1 ..),
   and returns when all calls have returned.  Items are claimed one at a time from a shared counter,
   so a helper that is slow to wake only takes what is left: a call is never slower than running
   every item on the caller.  Which slot runs an item must not change the result (the kernels give
   every item its own output and use the slot only to pick scratch space).

   After a job the helpers spin for the job's `spin_ns` (yielding the core to any other runnable thread
   every few spins), then sleep on a futex: while a model trains, a kernel that comes every step and
   asks for a spin longer than the gap to its next call finds them awake; when it stops, they cost
   nothing.  A job that asks for no spin does not shorten an earlier job's; one that passes a negative
   spin_ns runs on the caller alone unless the helpers are awake anyway (the SGD update: worth
   sharing right after a sparse product, not worth a wake-up).  One job at a time: a second Python thread
   that calls in while a job runs does its own items alone.  After fork() the child starts with no
   helpers (they are re-created on first use). */
#ifndef LE4NN_POOL_IMPL_H
#define LE4NN_POOL_IMPL_H

#include "le4nn_pool.h"

#if !(defined(__linux__) && defined(__GNUC__))
/* Elsewhere (no futex, or no C11 atomics in MSVC's C): an OpenMP team, or the caller alone. */
#ifdef _OPENMP
#include <omp.h>
#endif
static void le4nn_pool_run(int threads, Py_ssize_t items, le4nn_pool_fn fn, void *ctx, long long spin_ns) {
    if (threads > items) threads = (int)items;
#ifdef _OPENMP
    if (threads > 1 && spin_ns >= 0) {  /* spin_ns < 0: not worth waking a team */
        int i;
        #pragma omp parallel for num_threads(threads) schedule(dynamic)
        for (i = 0; i < (int)items; ++i) fn(ctx, i, omp_get_thread_num());
        return;
    }
#endif
    for (Py_ssize_t i = 0; i < items; ++i) fn(ctx, i, 0);
}
#else

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LE4NN_POOL_MAX_HELPERS 63

typedef struct {
    /* claim = (job number << 32) | next item: only items of the current job can be claimed. */
    _Atomic uint64_t claim;
    _Atomic uint32_t job;        /* the futex word: bumped when a job is posted */
    _Atomic int64_t done;        /* items finished in the current job */
    _Atomic int sleepers;
    _Atomic int stop_generation; /* bumped by fork: helpers of the parent do not exist any more */
    le4nn_pool_fn fn[2];         /* the job's parameters, double-buffered by job number parity */
    void *ctx[2];
    Py_ssize_t items[2];
    int helpers_wanted[2];
    long long spin_ns[2];
    int helpers;                 /* started */
    pthread_mutex_t submit;
    int atfork_registered;
} le4nn_pool_t;

static le4nn_pool_t le4nn_pool = {.submit = PTHREAD_MUTEX_INITIALIZER};

static inline void le4nn_pool_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int64_t le4nn_pool_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Run the items of job `job` (if it is still the current one) that nobody has claimed yet. */
static void le4nn_pool_work(le4nn_pool_t *p, uint32_t job, int slot) {
    const int b = job & 1;
    const le4nn_pool_fn fn = p->fn[b];
    void *const ctx = p->ctx[b];
    const Py_ssize_t items = p->items[b];
    if (slot > p->helpers_wanted[b]) return;
    uint64_t c = atomic_load_explicit(&p->claim, memory_order_acquire);
    for (;;) {
        if ((uint32_t)(c >> 32) != job || (Py_ssize_t)(c & 0xFFFFFFFFu) >= items) return;
        if (atomic_compare_exchange_weak_explicit(&p->claim, &c, c + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            fn(ctx, (Py_ssize_t)(c & 0xFFFFFFFFu), slot);
            atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
            c = atomic_load_explicit(&p->claim, memory_order_acquire);
        }
    }
}

typedef struct { int slot; int generation; } le4nn_pool_helper_arg;
static le4nn_pool_helper_arg le4nn_pool_args[LE4NN_POOL_MAX_HELPERS];

static void *le4nn_pool_helper(void *arg) {
    le4nn_pool_t *p = &le4nn_pool;
    const le4nn_pool_helper_arg *me = (const le4nn_pool_helper_arg *)arg;
    uint32_t seen = atomic_load_explicit(&p->job, memory_order_acquire);
    int64_t spin_until = 0;
    for (unsigned spins = 0;; ++spins) {
        if (atomic_load_explicit(&p->stop_generation, memory_order_relaxed) != me->generation) return NULL;
        const uint32_t job = atomic_load_explicit(&p->job, memory_order_acquire);
        if (job != seen) {
            seen = job;
            const int64_t spin = p->spin_ns[job & 1];  /* read before the work: the job may be replaced after */
            le4nn_pool_work(p, job, me->slot);
            const int64_t until = le4nn_pool_now_ns() + spin;
            if (until > spin_until) spin_until = until;
            spins = 0;
            continue;
        }
        le4nn_pool_pause();
        if ((spins & 63) != 63) continue;
        sched_yield();  /* let any other runnable thread on this core go first */
        if (le4nn_pool_now_ns() < spin_until) continue;
        atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&p->job, memory_order_seq_cst) == seen)
            syscall(SYS_futex, (uint32_t *)&p->job, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
        atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_seq_cst);
    }
}

static void le4nn_pool_atfork_child(void) {
    /* Only the forking thread exists in the child: forget the helpers (and a held lock). */
    le4nn_pool.helpers = 0;
    atomic_store(&le4nn_pool.sleepers, 0);
    atomic_fetch_add(&le4nn_pool.stop_generation, 1);
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    le4nn_pool.submit = fresh;
}

/* Start helpers up to `count` (called with the submit lock held); returns how many run. */
static int le4nn_pool_grow(le4nn_pool_t *p, int count) {
    if (count > LE4NN_POOL_MAX_HELPERS) count = LE4NN_POOL_MAX_HELPERS;
    if (!p->atfork_registered) {
        pthread_atfork(NULL, NULL, le4nn_pool_atfork_child);
        p->atfork_registered = 1;
    }
    while (p->helpers < count) {
        pthread_t thread;
        pthread_attr_t attr;
        le4nn_pool_helper_arg *arg = &le4nn_pool_args[p->helpers];
        arg->slot = p->helpers + 1;
        arg->generation = atomic_load(&p->stop_generation);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        const int failed = pthread_create(&thread, &attr, le4nn_pool_helper, arg);
        pthread_attr_destroy(&attr);
        if (failed) break;
        p->helpers++;
    }
    return p->helpers;
}

/* Runs fn(ctx, item, slot) for every item < items on up to `threads` threads (slots < threads); the
   helpers then stay awake for spin_ns. */
static void le4nn_pool_run(int threads, Py_ssize_t items, le4nn_pool_fn fn, void *ctx, long long spin_ns) {
    le4nn_pool_t *p = &le4nn_pool;
    if (items <= 0) return;
    if (threads > items) threads = (int)items;
    /* spin_ns < 0: only if the helpers are awake (spinning after an earlier job): waking a sleeping
       one takes longer (≈ 0.1 ms on the development VM) than such a job is worth */
    const int asleep = spin_ns < 0 && (p->helpers == 0 || atomic_load_explicit(&p->sleepers, memory_order_relaxed) >= p->helpers);
    if (threads <= 1 || asleep || items > 0xFFFFFFFF || pthread_mutex_trylock(&p->submit) != 0) {
        for (Py_ssize_t i = 0; i < items; ++i) fn(ctx, i, 0);
        return;
    }
    const int helpers = le4nn_pool_grow(p, threads - 1);
    const uint32_t job = atomic_load_explicit(&p->job, memory_order_relaxed) + 1;
    const int b = job & 1;
    p->fn[b] = fn;
    p->ctx[b] = ctx;
    p->items[b] = items;
    p->helpers_wanted[b] = helpers < threads - 1 ? helpers : threads - 1;
    p->spin_ns[b] = spin_ns > 0 ? spin_ns : 0;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->claim, (uint64_t)job << 32, memory_order_release);
    atomic_store_explicit(&p->job, job, memory_order_seq_cst);
    if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) > 0)
        syscall(SYS_futex, (uint32_t *)&p->job, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    le4nn_pool_work(p, job, 0);
    /* Wait for the items the helpers took; yield now and then, in case one of them shares this core. */
    for (unsigned spins = 1; atomic_load_explicit(&p->done, memory_order_acquire) < items; ++spins) {
        le4nn_pool_pause();
        if ((spins & 255) == 0) sched_yield();
    }
    pthread_mutex_unlock(&p->submit);
}

#endif /* Linux */
#endif /* LE4NN_POOL_IMPL_H */
