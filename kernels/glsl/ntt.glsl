// The radix-2 butterfly of the batched NTTs (see device/ntt.h for the stage schedule).
// DIT (Cooley-Tukey): bit-reversed input -> natural output. DIF (Gentleman-Sande): natural
// input -> bit-reversed output. Twiddles are in Montgomery form.

#ifndef NTT_GLSL
#define NTT_GLSL

void ntt_butterfly(inout uint a, inout uint b, uint twiddle, bool is_dif) {
    if (is_dif) {
        uint sum = bb_add(a, b);
        b = bb_mul(bb_sub(a, b), twiddle);
        a = sum;
    } else {
        uint t = bb_mul(b, twiddle);
        b = bb_sub(a, t);
        a = bb_add(a, t);
    }
}

#endif
