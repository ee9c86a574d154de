/* rv32im-selftest: exercises every RV32IM instruction (and FENCE.I), edge cases included.
 *
 * Each check stores the value under test as one little-endian word of a results array and
 * compares it with the value the RISC-V specification requires. At the end the program
 * appends the number of failed checks as one more word, writes the whole array to the public
 * output (write, fd 1) and exits with the number of failed checks (0: all passed). A failed
 * check also writes "rv32im-selftest: check 0xNNNNNNNN failed\n" (the word's index) to the
 * debug log (fd 2).
 *
 * The program never reads input and keeps its stack in .bss, so qemu-riscv32 (Linux user
 * mode, whose exit and write system calls share the numbers) runs it unchanged and serves as
 * the reference: rv32im-selftest.expected is its output, one word per line.
 *
 * Registers: s0 = next result slot, s2 = failure count, t5/t6 = scratch of the check macro;
 * tests use the others. Built with -march=rv32im_zifencei -mabi=ilp32 -nostdlib -Wl,--no-relax
 * and the SDK's linker script (scripts/build-guests.sh).
 */

    .option norelax

/* check reg, value: record reg, count a failure unless reg == value. reg must not be t5/t6. */
    .macro check reg, value
    sw      \reg, 0(s0)
    li      t6, \value
    beq     \reg, t6, .Lok\@
    jal     t5, report_failure
.Lok\@:
    addi    s0, s0, 4
    .endm

/* brtest op, a, b, bit: set bit `bit` of s1 when `op a, b` branches. */
    .macro brtest op, a, b, bit
    li      a4, \a
    li      a5, \b
    \op     a4, a5, .Ltaken\@
    j       .Ldone\@
.Ltaken\@:
    li      a6, 1 << \bit
    or      s1, s1, a6
.Ldone\@:
    .endm

    .section .text._start, "ax", @progbits
    .globl  _start
    .type   _start, @function
_start:
    la      sp, stack_top
    la      s0, results
    li      s2, 0

/* ---- x0 and register writes -------------------------------------------------------- */
    addi    x0, x0, 5
    check   x0, 0
    li      t0, 0x12345678
    add     x0, t0, t0
    lui     x0, 0xfffff
    check   x0, 0
    add     t1, x0, x0
    check   t1, 0

/* ---- LUI, AUIPC ------------------------------------------------------------------------- */
    lui     t0, 0x12345
    check   t0, 0x12345000
    lui     t0, 0xfffff
    check   t0, 0xfffff000
    lui     t0, 0x80000
    check   t0, 0x80000000
.Lauipc0:
    auipc   t0, 0
    la      t1, .Lauipc0
    sub     t0, t0, t1
    check   t0, 0
.Lauipc1:
    auipc   t0, 1
    la      t1, .Lauipc1
    sub     t0, t0, t1
    check   t0, 0x1000
.Lauipc2:
    auipc   t0, 0xfffff
    la      t1, .Lauipc2
    sub     t0, t0, t1
    check   t0, 0xfffff000

/* ---- JAL ---------------------------------------------------------------------------------- */
    jal     ra, .Ljal_target
.Ljal_return:
    j       .Ljal_after
.Ljal_target:
    la      t1, .Ljal_return
    sub     t0, ra, t1
    jr      ra
.Ljal_after:
    check   t0, 0                        /* ra = address after the JAL */
    li      t0, 7
    jal     x0, .Ljal_skip               /* rd = x0: jump only */
    li      t0, 99
.Ljal_skip:
    check   t0, 7
    li      t0, 0
    j       .Ljal_fwd                    /* backward jump: loop 3 times */
.Ljal_back:
    addi    t0, t0, 1
.Ljal_fwd:
    li      t1, 3
    blt     t0, t1, .Ljal_back
    check   t0, 3

/* ---- JALR ---------------------------------------------------------------------------------- */
    la      t1, .Ljalr_target1
    addi    t1, t1, 1                    /* odd target: bit 0 is cleared */
    li      t0, 0
    jalr    ra, 0(t1)
.Ljalr_return1:
    check   t0, 11
    la      t1, .Ljalr_return1
    sub     t2, ra, t1
    check   t2, 0                        /* ra = address after the JALR */
    la      t1, .Ljalr_target2
    addi    t1, t1, 8
    jalr    ra, -7(t1)                   /* negative offset, odd sum: target2 */
    check   t0, 22
    la      t1, .Ljalr_target3
    jalr    t1, 0(t1)                    /* rd = rs1: the target uses the old value */
.Ljalr_return3:
    la      t2, .Ljalr_return3
    sub     t2, t1, t2
    check   t2, 0
    check   t0, 33
    la      t1, .Ljalr_target4
    jalr    x0, 1(t1)                    /* rd = x0 */
    j       .Ljalr_after
.Ljalr_target1:
    li      t0, 11
    jalr    x0, 0(ra)
.Ljalr_target2:
    li      t0, 22
    jr      ra
.Ljalr_target3:
    li      t0, 33
    jr      t1
.Ljalr_target4:
    li      t0, 44
    j       .Ljalr_after
.Ljalr_after:
    check   t0, 44

/* ---- branches ------------------------------------------------------------------------------ */
    li      s1, 0
    brtest  beq,  5, 5, 0
    brtest  beq,  5, 6, 1
    brtest  bne,  5, 5, 2
    brtest  bne,  5, 6, 3
    brtest  blt,  -1, 1, 4               /* signed: -1 < 1 */
    brtest  blt,  1, -1, 5
    brtest  blt,  5, 5, 6
    brtest  bge,  5, 5, 7                /* equal: taken */
    brtest  bge,  -1, 1, 8
    brtest  bge,  1, -1, 9
    brtest  bltu, -1, 1, 10              /* unsigned: 0xffffffff > 1 */
    brtest  bltu, 1, -1, 11
    brtest  bltu, 5, 5, 12
    brtest  bgeu, 5, 5, 13
    brtest  bgeu, -1, 1, 14
    brtest  bgeu, 1, -1, 15
    brtest  blt,  0x80000000, 0x7fffffff, 16
    brtest  bltu, 0x80000000, 0x7fffffff, 17
    brtest  bge,  0, 0x80000000, 18
    brtest  bgeu, 0, 0x80000000, 19
    check   s1, 0x00056a99
    li      t0, 0                        /* backward branch loop: sum 1..100 */
    li      t1, 100
.Lsum:
    add     t0, t0, t1
    addi    t1, t1, -1
    bnez    t1, .Lsum
    check   t0, 5050

/* ---- loads --------------------------------------------------------------------------------- */
    la      a0, load_data                /* bytes 80 7f ff 01 | 01 80 fe 7f | 78 56 34 12 */
    lb      t0, 0(a0)
    check   t0, 0xffffff80
    lb      t0, 1(a0)
    check   t0, 0x7f
    lb      t0, 2(a0)
    check   t0, 0xffffffff
    lbu     t0, 0(a0)
    check   t0, 0x80
    lbu     t0, 2(a0)
    check   t0, 0xff
    lh      t0, 4(a0)
    check   t0, 0xffff8001
    lh      t0, 6(a0)
    check   t0, 0x7ffe
    lhu     t0, 4(a0)
    check   t0, 0x8001
    lh      t0, 2(a0)
    check   t0, 0x01ff
    lw      t0, 0(a0)
    check   t0, 0x01ff7f80
    lw      t0, 8(a0)
    check   t0, 0x12345678
    addi    a1, a0, 12
    lw      t0, -4(a1)                   /* negative offset */
    check   t0, 0x12345678
    lb      t0, -10(a1)
    check   t0, 0xffffffff
    lhu     t0, -6(a1)
    check   t0, 0x7ffe
    lw      x0, 0(a0)                    /* load into x0 is discarded */
    check   x0, 0

/* ---- stores -------------------------------------------------------------------------------- */
    la      a0, store_area
    li      t1, 0x11223344
    sw      t1, 0(a0)
    li      t1, 0x123456aa               /* SB stores the low byte only */
    sb      t1, 1(a0)
    li      t1, 0xabcdbbcc               /* SH stores the low half only */
    sh      t1, 2(a0)
    lw      t0, 0(a0)
    check   t0, 0xbbccaa44
    addi    a1, a0, 16
    li      t1, 0xdeadbeef
    sw      t1, -12(a1)                  /* negative offsets */
    li      t1, 0x55
    sb      t1, -9(a1)
    li      t1, 0x6677
    sh      t1, -4(a1)
    lw      t0, 4(a0)
    check   t0, 0x55adbeef
    lw      t0, 12(a0)
    check   t0, 0x00006677
    lbu     t0, 7(a0)
    check   t0, 0x55
    sw      x0, 8(a0)                    /* storing x0 stores zero */
    lw      t0, 8(a0)
    check   t0, 0

/* ---- register-immediate ALU ---------------------------------------------------------------- */
    li      t1, 0x7fffffff
    addi    t0, t1, 1                    /* overflow wraps */
    check   t0, 0x80000000
    addi    t0, x0, -2048
    check   t0, 0xfffff800
    addi    t0, x0, 2047
    check   t0, 0x7ff
    li      t1, -1
    slti    t0, t1, 0
    check   t0, 1
    slti    t0, t1, -1
    check   t0, 0
    li      t1, 1
    slti    t0, t1, -1
    check   t0, 0
    sltiu   t0, t1, -1                   /* immediate sign-extended, then compared unsigned */
    check   t0, 1
    sltiu   t0, x0, 1                    /* seqz */
    check   t0, 1
    li      t1, -1
    sltiu   t0, t1, 1
    check   t0, 0
    li      t1, 0x0f0f0f0f
    xori    t0, t1, -1                   /* not */
    check   t0, 0xf0f0f0f0
    xori    t0, t1, 0x7ff
    check   t0, 0x0f0f08f0
    ori     t0, t1, -2048
    check   t0, 0xffffff0f
    ori     t0, t1, 0x0f0
    check   t0, 0x0f0f0fff
    li      t1, 0x12345678
    andi    t0, t1, -16
    check   t0, 0x12345670
    andi    t0, t1, 0x7ff
    check   t0, 0x678
    li      t1, 0x80000001
    slli    t0, t1, 0
    check   t0, 0x80000001
    slli    t0, t1, 1
    check   t0, 0x00000002
    slli    t0, t1, 31
    check   t0, 0x80000000
    srli    t0, t1, 1
    check   t0, 0x40000000
    srli    t0, t1, 31
    check   t0, 1
    srai    t0, t1, 1
    check   t0, 0xc0000000
    srai    t0, t1, 31
    check   t0, 0xffffffff
    srai    t0, t1, 0
    check   t0, 0x80000001
    li      t1, 0x40000000
    srai    t0, t1, 30
    check   t0, 1

/* ---- register-register ALU ------------------------------------------------------------------- */
    li      t1, 0x7fffffff
    li      t2, 1
    add     t0, t1, t2
    check   t0, 0x80000000
    li      t1, 0xffffffff
    add     t0, t1, t2
    check   t0, 0
    sub     t0, x0, t2
    check   t0, 0xffffffff
    li      t1, 0x80000000
    sub     t0, t1, t2
    check   t0, 0x7fffffff
    li      t1, 0x80000001
    li      t2, 4
    sll     t0, t1, t2
    check   t0, 0x00000010
    li      t2, 32                       /* shift amounts use the low 5 bits only */
    sll     t0, t1, t2
    check   t0, 0x80000001
    li      t2, 33
    sll     t0, t1, t2
    check   t0, 0x00000002
    li      t2, 0xffffffe1
    sll     t0, t1, t2
    check   t0, 0x00000002
    li      t2, 63
    srl     t0, t1, t2
    check   t0, 1
    li      t2, 36
    srl     t0, t1, t2
    check   t0, 0x08000000
    sra     t0, t1, t2
    check   t0, 0xf8000000
    li      t2, 0xffffffff
    sra     t0, t1, t2
    check   t0, 0xffffffff
    li      t2, 64
    sra     t0, t1, t2
    check   t0, 0x80000001
    li      t1, -1
    li      t2, 1
    slt     t0, t1, t2
    check   t0, 1
    sltu    t0, t1, t2
    check   t0, 0
    slt     t0, t2, t1
    check   t0, 0
    sltu    t0, t2, t1
    check   t0, 1
    slt     t0, t1, t1
    check   t0, 0
    sltu    t0, x0, t2                   /* snez */
    check   t0, 1
    li      t1, 0xff00ff00
    li      t2, 0x0ff00ff0
    xor     t0, t1, t2
    check   t0, 0xf0f0f0f0
    or      t0, t1, t2
    check   t0, 0xfff0fff0
    and     t0, t1, t2
    check   t0, 0x0f000f00

/* ---- M extension: multiplication --------------------------------------------------------------- */
    li      t1, 0x12345678
    li      t2, 0x9abcdef0
    mul     t0, t1, t2
    check   t0, 0x242d2080
    mulh    t0, t1, t2                   /* signed x signed */
    check   t0, 0xf8cc93d6
    mulhu   t0, t1, t2
    check   t0, 0x0b00ea4e
    mulhsu  t0, t1, t2                   /* signed rs1 x unsigned rs2 */
    check   t0, 0x0b00ea4e
    mulhsu  t0, t2, t1
    check   t0, 0xf8cc93d6
    li      t1, -1
    li      t2, -1
    mul     t0, t1, t2
    check   t0, 1
    mulh    t0, t1, t2
    check   t0, 0
    mulhu   t0, t1, t2
    check   t0, 0xfffffffe
    mulhsu  t0, t1, t2                   /* -1 x 0xffffffff */
    check   t0, 0xffffffff
    li      t1, 0x80000000
    mulh    t0, t1, t1
    check   t0, 0x40000000
    mulhu   t0, t1, t1
    check   t0, 0x40000000
    mulhsu  t0, t1, t1                   /* -2^31 x 2^31 */
    check   t0, 0xc0000000
    mul     t0, t1, t1
    check   t0, 0
    li      t2, 1
    mulh    t0, t1, t2
    check   t0, 0xffffffff
    mulhu   t0, t1, t2
    check   t0, 0
    li      t1, 7
    li      t2, -3
    mul     t0, t1, t2
    check   t0, 0xffffffeb
    mul     x0, t1, t2
    check   x0, 0

/* ---- M extension: division ------------------------------------------------------------------- */
    li      t1, 7
    li      t2, -2
    div     t0, t1, t2                   /* rounds towards zero */
    check   t0, 0xfffffffd
    rem     t0, t1, t2                   /* sign of the dividend */
    check   t0, 1
    li      t1, -7
    li      t2, 2
    div     t0, t1, t2
    check   t0, 0xfffffffd
    rem     t0, t1, t2
    check   t0, 0xffffffff
    divu    t0, t1, t2
    check   t0, 0x7ffffffc
    remu    t0, t1, t2
    check   t0, 1
    li      t1, 1234                     /* division by zero */
    div     t0, t1, x0
    check   t0, 0xffffffff
    divu    t0, t1, x0
    check   t0, 0xffffffff
    rem     t0, t1, x0
    check   t0, 1234
    remu    t0, t1, x0
    check   t0, 1234
    li      t1, -1234
    div     t0, t1, x0
    check   t0, 0xffffffff
    rem     t0, t1, x0
    check   t0, 0xfffffb2e
    li      t1, 0x80000000               /* signed overflow: -2^31 / -1 */
    li      t2, -1
    div     t0, t1, t2
    check   t0, 0x80000000
    rem     t0, t1, t2
    check   t0, 0
    divu    t0, t1, t2
    check   t0, 0
    remu    t0, t1, t2
    check   t0, 0x80000000
    li      t1, 0xffffffff
    li      t2, 0x10
    divu    t0, t1, t2
    check   t0, 0x0fffffff
    remu    t0, t1, t2
    check   t0, 0xf
    div     t0, t1, t2                   /* -1 / 16 = 0 */
    check   t0, 0
    rem     t0, t1, t2
    check   t0, 0xffffffff

/* ---- FENCE, FENCE.I, and a round trip through the stack ---------------------------------------- */
    li      t0, 0x5a5a5a5a
    addi    sp, sp, -16
    sw      t0, 12(sp)
    fence
    fence   rw, rw
    fence.i
    lw      t1, 12(sp)
    addi    sp, sp, 16
    check   t1, 0x5a5a5a5a
    la      t1, stack_top
    sub     t1, sp, t1
    check   t1, 0

/* ---- report ------------------------------------------------------------------------------------ */
    sw      s2, 0(s0)                    /* the last word: number of failed checks */
    addi    s0, s0, 4
    li      a7, 64                       /* write(1, results, s0 - results) */
    li      a0, 1
    la      a1, results
    sub     a2, s0, a1
    ecall
    mv      a0, s2                       /* exit(failures) */
    li      a7, 93
    ecall
    unimp
    .size   _start, . - _start

/* report_failure: called with `jal t5`; counts the failure and logs the check's index.
 * Preserves every register but t5 and t6. */
    .text
    .type   report_failure, @function
report_failure:
    addi    s2, s2, 1
    addi    sp, sp, -32
    sw      a0, 0(sp)
    sw      a1, 4(sp)
    sw      a2, 8(sp)
    sw      a3, 12(sp)
    sw      a7, 16(sp)
    la      a1, results
    sub     a0, s0, a1
    srli    a0, a0, 2                    /* the check's index */
    la      a1, failure_digits + 8       /* write 8 hex digits, last first */
    li      a2, 8
1:
    andi    a3, a0, 0xf
    addi    a3, a3, '0'
    li      a7, '9'
    ble     a3, a7, 2f
    addi    a3, a3, 'a' - '0' - 10
2:
    addi    a1, a1, -1
    sb      a3, 0(a1)
    srli    a0, a0, 4
    addi    a2, a2, -1
    bnez    a2, 1b
    li      a7, 64                       /* write(2, failure_message, length) */
    li      a0, 2
    la      a1, failure_message
    la      a2, failure_message_end
    sub     a2, a2, a1
    ecall
    lw      a0, 0(sp)
    lw      a1, 4(sp)
    lw      a2, 8(sp)
    lw      a3, 12(sp)
    lw      a7, 16(sp)
    addi    sp, sp, 32
    jr      t5
    .size   report_failure, . - report_failure

    .data                                /* not .rodata: GNU ld would put it in the code segment */
    .balign 4
load_data:
    .byte   0x80, 0x7f, 0xff, 0x01
    .byte   0x01, 0x80, 0xfe, 0x7f
    .byte   0x78, 0x56, 0x34, 0x12
failure_message:
    .ascii  "rv32im-selftest: check 0x"
failure_digits:
    .ascii  "00000000 failed\n"
failure_message_end:

    .bss
    .balign 16
results:
    .skip   4096
store_area:
    .skip   16
    .balign 16
stack:
    .skip   4096
stack_top:
