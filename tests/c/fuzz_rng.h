/* The fuzz drivers' random numbers: splitmix64, seeded from the command line. */
#ifndef LC_FUZZ_RNG_H
#define LC_FUZZ_RNG_H

#include <stdint.h>

static uint64_t rng_state;

static uint64_t next_u64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(uint32_t n) { return n ? (uint32_t)(next_u64() % n) : 0; }

#endif
