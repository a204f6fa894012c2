	ldh [12]
	jeq #0x800, l2, l12
l2:	ldb [23]
	jeq #0x11, l4, l12
l4:	ldh [20]
	jset #0x1fff, l12
l6:	ldxb 4*([14]&0xf)
	ldh [x + 14]
	jeq #0x35, l11
l9:	ldh [x + 16]
	jeq #0x35, l11, l12
l11:	ret #65535
l12:	ret #0
