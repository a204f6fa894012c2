# every operand form
; comments: ; and /* */ and # at line start
start:	ld #0x10
	ldi 7
	ldh [12]
	ldb [x + 14]
	ld [%x+2]
	ld M[3]
	ld #len
	ldx len
	ld #proto
	ldh vlan_tci
	ldb [vlanp]
	ldx #-1
	ldxi 0b101
	ldx M[1]
	ldxb 4*([0x0e]&0xf)
	st M[0]
	stx M[15]
	add #1
	sub x
	mul %x
	div #3
	mod #010
	and #0xf0
	or x
	xor #255
	lsh #2
	rsh x
	neg
	tax
	txa
	jeq #1, t1, f1
t1:	jneq x, f1
	jlt #5, f1, t2
t2:	jle %x, f1
	jgt #7, f1
	jge x, f1
	jset #0x1fff, f1, t3
t3:	ja f1
f1:	ret a
	ret #0xffffffff
