/* The ping-pong and window-bandwidth loops of bwbench/interconnect.py in C:
 * the reference that shows what Python (mpi4py, numpy stamps) adds per message.
 * Same rules: rank 0 and the last rank; every message carries an 8-byte
 * sequence stamp checked on each receive, the rest of each receive buffer
 * compared with its pattern after the timed loops; iterations doubled until a
 * loop lasts a quarter of the target (the better of two; the warm-up), then 5 timed loops, each
 * the slowest rank's time, the best reported. Built only where an MPI compiler
 * wrapper exists (scripts/mpi_overhead.py runs mpicc).
 *
 * usage: mpiexec -n 2 osu_ref MIN_BYTES MAX_BYTES TARGET_SECONDS
 * prints one JSON object: {"library", "ranks", "tests": [{"test", "bytes",
 * "latency_us", "algbw_gbps", "window", "iterations"}]}; exit 1 on a wrong byte. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLES 5
#define WINDOW 64
#define WINDOW_BYTES (16L << 20)
#define MAX_ITERATIONS (1L << 20)

static int rank, last, active, first, peer;
static long wrong;

typedef struct {
    int bw;                  /* 0: pingpong, 1: bw */
    size_t size;
    int window;
    unsigned char *send, *recv;   /* window slots of size bytes each */
    MPI_Request requests[WINDOW];
} loop_t;

static unsigned char pattern(size_t i, int slot) { return (unsigned char)((i + slot) % 13 + 1); }

static void stamp(unsigned char *slot, int64_t seq) { memcpy(slot, &seq, 8); }

static void check_stamp(const unsigned char *slot, int64_t seq) {
    int64_t got;
    memcpy(&got, slot, 8);
    wrong += got != seq;
}

static void step(loop_t *l, int64_t seq) {
    unsigned char ack = 0;
    if (!active)
        return;
    if (!l->bw) {
        if (first) {
            stamp(l->send, seq);
            MPI_Send(l->send, (int)l->size, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
            MPI_Recv(l->recv, (int)l->size, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(l->recv, (int)l->size, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            check_stamp(l->recv, seq);
            MPI_Send(l->recv, (int)l->size, MPI_BYTE, peer, 0, MPI_COMM_WORLD);   /* the echo */
            return;
        }
        check_stamp(l->recv, seq);
        return;
    }
    for (int j = 0; j < l->window; j++) {
        unsigned char *slot = (first ? l->send : l->recv) + (size_t)j * l->size;
        if (first) {
            stamp(slot, seq * l->window + j);
            MPI_Isend(slot, (int)l->size, MPI_BYTE, peer, 0, MPI_COMM_WORLD, &l->requests[j]);
        } else {
            MPI_Irecv(slot, (int)l->size, MPI_BYTE, peer, 0, MPI_COMM_WORLD, &l->requests[j]);
        }
    }
    MPI_Waitall(l->window, l->requests, MPI_STATUSES_IGNORE);
    if (first) {
        MPI_Recv(&ack, 1, MPI_BYTE, peer, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
        for (int j = 0; j < l->window; j++)
            check_stamp(l->recv + (size_t)j * l->size, seq * l->window + j);
        MPI_Send(&ack, 1, MPI_BYTE, peer, 0, MPI_COMM_WORLD);
    }
}

/* Seconds of `iterations` steps, the slowest rank's. */
static double timed(loop_t *l, long iterations, int64_t *seq) {
    MPI_Barrier(MPI_COMM_WORLD);
    double start = MPI_Wtime();
    for (long i = 0; i < iterations; i++)
        step(l, (*seq)++);
    double elapsed = MPI_Wtime() - start, slowest;
    MPI_Allreduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return slowest;
}

static void run(int bw, size_t size, double target, int *printed) {
    loop_t l = {.bw = bw, .size = size, .window = 1};
    if (bw) {
        long fit = WINDOW_BYTES / (long)size;
        l.window = fit < 1 ? 1 : (fit > WINDOW ? WINDOW : (int)fit);
    }
    size_t bytes = (size_t)l.window * size;
    l.send = malloc(bytes);
    l.recv = malloc(bytes);
    if (!l.send || !l.recv) {
        fprintf(stderr, "osu_ref: cannot allocate %zu bytes\n", 2 * bytes);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    for (size_t i = 0; i < bytes; i++) {
        l.send[i] = pattern(i % size, (int)(i / size));
        l.recv[i] = 0;
    }
    int64_t seq = 0;
    long iterations = 1;
    double elapsed;
    for (;;) {   /* the better of two loops, so one stall does not end the calibration early */
        double a = timed(&l, iterations, &seq), b = timed(&l, iterations, &seq);
        elapsed = a < b ? a : b;
        if (elapsed >= target / 4 || iterations >= MAX_ITERATIONS)
            break;
        iterations *= 2;
    }
    long scaled = (long)(iterations * target / elapsed + 0.999);
    iterations = scaled < 1 ? 1 : (scaled > MAX_ITERATIONS ? MAX_ITERATIONS : scaled);
    double best = 1e300;
    for (int s = 0; s < SAMPLES; s++) {
        double t = timed(&l, iterations, &seq) / iterations;
        best = t < best ? t : best;
    }
    int receives = active && (!bw || !first);
    for (size_t i = 0; receives && i < bytes; i++)
        wrong += i % size >= 8 && l.recv[i] != pattern(i % size, (int)(i / size));
    double per_message = best / (bw ? l.window : 2);
    if (rank == 0)
        printf("%s\n  {\"test\": \"%s\", \"bytes\": %zu, \"latency_us\": %.6g, \"algbw_gbps\": %.6g, "
               "\"window\": %d, \"iterations\": %ld}", (*printed)++ ? "," : "", bw ? "bw" : "pingpong", size,
               per_message * 1e6, size / per_message / 1e9, l.window, iterations);
    free(l.send);
    free(l.recv);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    long low = argc == 4 ? atol(argv[1]) : 0, high = argc == 4 ? atol(argv[2]) : 0;
    double target = argc == 4 ? atof(argv[3]) : 0;
    if (ranks < 2 || low < 8 || high < low || !(target > 0)) {
        if (rank == 0)
            fprintf(stderr, "usage: mpiexec -n 2 osu_ref MIN_BYTES MAX_BYTES TARGET_SECONDS (MIN_BYTES >= 8)\n");
        MPI_Finalize();
        return 2;
    }
    last = ranks - 1;
    active = rank == 0 || rank == last;
    first = rank == 0;
    peer = first ? last : 0;
    char library[MPI_MAX_LIBRARY_VERSION_STRING];
    int length;
    MPI_Get_library_version(library, &length);
    library[strcspn(library, ",\n")] = 0;
    if (rank == 0)
        printf("{\"library\": \"%s\", \"ranks\": %d, \"tests\": [", library, ranks);
    int printed = 0;
    for (int bw = 0; bw < 2; bw++)
        for (long size = low; size <= high; size *= 2)
            run(bw, (size_t)size, target, &printed);
    long total;
    MPI_Allreduce(&wrong, &total, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("\n], \"wrong\": %ld}\n", total);
    MPI_Finalize();
    return total ? 1 : 0;
}
