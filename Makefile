# Thin wrapper around meson for the commands people type.
#   make          build into build/
#   make check    every test: gcc build, ASan+UBSan build, clang build,
#                 fuzzers briefly on their corpora
#   make demo     two WireGuard peers behind two NATs punched through
#                 (needs root: network namespaces)
#   make demo-filter  the libcbpf raw-socket filter shown on and off
#   make bench    benchmarks, numbers side by side with their baselines
#   make fuzz     long fuzzing and differential runs
#   make install  install into PREFIX (default /usr/local)
#   make uninstall  remove what the last `make install` installed

MESON   ?= meson
NINJA   ?= ninja
PREFIX  ?= /usr/local
FUZZ_SECONDS ?= 10
LONG_FUZZ_SECONDS ?= 600

.PHONY: all deps check demo demo-filter bench fuzz install uninstall clean

all: build/build.ninja
	$(MESON) compile -C build

build/build.ninja:
	$(MESON) setup build --prefix=$(PREFIX)

build-bench/build.ninja:
	$(MESON) setup build-bench --buildtype=release -Dtests=false

deps:
	@tools/install-deps

check: deps
	@tests/run-check

demo: deps all
	@tests/demo/punch.sh build

demo-filter: deps all
	@tests/demo/demo.sh build

bench: deps build-bench/build.ninja
	$(MESON) compile -C build-bench
	@bench/run build-bench

# Long runs: the differential tests with millions of programs, then every
# fuzzer for LONG_FUZZ_SECONDS (new corpus entries are kept).
fuzz: deps all
	CBPF_LONG=1 build/tests/core/test_validate_kernel
	CBPF_LONG=1 build/tests/vm/test_vm_kernel
	@FUZZ_SECONDS=$(LONG_FUZZ_SECONDS) LONG=1 tests/run-fuzz

install: all
	$(MESON) install -C build

# meson's own uninstall: removes every file listed in the install log of
# build/ (so it needs the build/ that installed them).
uninstall:
	$(NINJA) -C build uninstall

clean:
	rm -rf build build-asan build-clang build-fuzz build-bench
