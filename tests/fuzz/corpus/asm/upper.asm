LD #PROTO
JEQ #0x800, ok /* ipv4 */
RET #0
ok: RET #-1
