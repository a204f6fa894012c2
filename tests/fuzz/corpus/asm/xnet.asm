ldx 4*([14]&0xf)
jeq #42,prev,end
jne #42,end
prev: ret a
end:  ret #42
